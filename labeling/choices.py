from django.db import models


class Modality(models.TextChoices):
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    TEXT = "text", "Text"


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    TRANSCRIPTION = "transcription", "Transcription"
    DETECTION = "detection", "Detection (boxes on images)"
    SEGMENTS = "segments", "Segments (time regions on audio)"


# Localized task types: the modality each needs and the key of its answer's list of shapes.
SHAPE_TASKS = {TaskType.DETECTION: ("image", "boxes"), TaskType.SEGMENTS: ("audio", "segments")}


class Role(models.TextChoices):
    LABELER = "labeler", "Labeler"
    REVIEWER = "reviewer", "Reviewer (SME)"
    MANAGER = "manager", "Manager"


def role_words(role) -> str:
    """A role inside a sentence, lower-case with its article: "a labeler", "a reviewer (SME)", "a manager"
    ("ann is now a labeler.", "join as a reviewer (SME)"). Tables and the top bar show the label itself."""
    label = Role(role).label
    return f"a {label[:1].lower()}{label[1:]}"


# Higher rank includes the rights of the lower ones.
ROLE_RANK = {Role.LABELER: 1, Role.REVIEWER: 2, Role.MANAGER: 3}


class SourceKind(models.TextChoices):
    OWNED = "owned", "Owned"
    CROWDSOURCED = "crowdsourced", "Crowdsourced"
    PURCHASED = "purchased", "Purchased"
    SYNTHETIC = "synthetic", "Synthetic"
    PUBLIC = "public", "Public"
    PRODUCTION_LOGS = "production_logs", "Production logs"


class SourceUnit(models.TextChoices):
    ITEMS = "items", "Items"
    HOURS = "hours", "Hours"


class SourceStatus(models.TextChoices):
    IDEA = "idea", "Idea"
    ACQUIRING = "acquiring", "Acquiring"
    AVAILABLE = "available", "Available"
    RETIRED = "retired", "Retired"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class JobKind(models.TextChoices):
    IMPORT = "import", "Import"
    AGREEMENT = "agreement", "Agreement report"
    MAP = "map", "Embedding map"
    VERSION = "version", "Dataset version"
    TRAINING = "training", "Training"
    DELETION = "deletion", "Item deletion"


# Dataset versions, webhooks and training jobs.


class VersionStatus(models.TextChoices):
    # A version row only exists once its build published it; "ready" is the only state a build creates.
    READY = "ready", "Ready"


class ArtifactFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"
    IMAGEFOLDER = "imagefolder", "ImageFolder zip"
    AUDIOFOLDER = "audiofolder", "Hugging Face audiofolder zip"
    COCO = "coco", "COCO JSON (detection)"
    YOLO = "yolo", "YOLO zip (detection)"
    SEGMENTS_CSV = "segments_csv", "Segments CSV"
    RTTM = "rttm", "RTTM (segments)"
    ANSWERS = "answers", "Raw answers (JSON Lines)"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class Trainer(models.TextChoices):
    LOGISTIC_REGRESSION = "logistic_regression", "Logistic regression (built-in)"
    EXTERNAL = "external", "External (the team's own workers)"


# Label consistency: review decisions, taxonomy changes, relabel campaigns.


class DecisionAction(models.TextChoices):
    LABEL = "label", "Final label"
    AMBIGUOUS_INSTRUCTIONS = "ambiguous_instructions", "Instructions ambiguous"
    INPUT_INSUFFICIENT = "input_insufficient", "Input lacks the information"
    RELABEL = "relabel", "Send back for relabeling"
    # Takes back the decision in force: the item is undecided again (back in the review queue, shipped as
    # its answers resolve it); the decision stays in the history, and so do what its action did.
    WITHDRAWN = "withdrawn", "Decision withdrawn"


class TaxonomyOp(models.TextChoices):
    ADD = "add", "Add a class"
    RENAME = "rename", "Rename a class"
    RETIRE = "retire", "Retire a class"
    MERGE = "merge", "Merge classes"


class CampaignStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FINISHED = "finished", "Finished"

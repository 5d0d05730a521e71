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

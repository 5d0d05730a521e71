"""Forms of the project pages: a new project (with its rows of classes), its settings, its members.

The pages call the same services as the API (``labeling.services.projects``); the forms check what a
person filling them in can get wrong, row by row, so each message sits next to the field it is about.
The services check again, so a page and the API can never disagree on what a valid project is.
"""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from labeling.choices import SHAPE_TASKS, Modality, Role, TaskType
from labeling.models import class_key_validator
from labeling.services.projects import RESERVED_HOTKEYS, user_find

# Which task types each modality offers on the page (the API refuses the same mismatches).
TASKS_BY_MODALITY = {
    Modality.IMAGE: [TaskType.CLASSIFICATION, TaskType.DETECTION, TaskType.TRANSCRIPTION],
    Modality.AUDIO: [TaskType.CLASSIFICATION, TaskType.TRANSCRIPTION, TaskType.SEGMENTS],
    Modality.TEXT: [TaskType.CLASSIFICATION, TaskType.TRANSCRIPTION],
}
CLASS_FIELDS = ("key", "name", "hotkey", "description")
MAX_CLASSES = 200


# What a class key may hold, in the refusals of a key typed or made from a name.
KEY_LETTERS = "the letters A-Z, digits, '_', '.' and '-'"


def _key_from(text) -> str:
    """The class key a name makes (slugify keeps only ASCII letters and digits)."""
    return slugify(text).replace("-", "_")[:64]


def _key_refusal(key, exc) -> str:
    """Why ``key`` is no class key. A key with letters outside A-Z ("café", "猫") was told "a key is 1-64
    letters, digits, ..." while those are letters: the message names them, and the key slugify would make."""
    outside = sorted({c for c in key if not c.isascii()}, key=key.index)
    if not outside:
        return exc.messages[0]
    shown = ", ".join(f"'{c}'" for c in outside[:5])
    message = f"{shown} {'is' if len(outside) == 1 else 'are'} not allowed in a key: it uses only {KEY_LETTERS}"
    message += " (the class name may be in any script)"
    suggestion = _key_from(key)
    if suggestion and suggestion != key:
        try:
            class_key_validator(suggestion)
            message += f": '{suggestion}'?"
        except ValidationError:
            pass
    return message


class ClassRow:
    """One row of the classes table as typed, with its errors by field."""

    def __init__(self, **values):
        self.values = {name: (values.get(name) or "").strip() for name in CLASS_FIELDS}
        self.errors = {}

    def __getattr__(self, name):
        if name in CLASS_FIELDS:
            return self.values[name]
        raise AttributeError(name)

    @property
    def blank(self):
        return not any(self.values.values())

    def spec(self):
        return {k: v for k, v in self.values.items() if v}


class ProjectCreateForm(forms.Form):
    """A new project: what it labels, how, with which classes and options, and its first guideline.

    The classes come as repeated fields (``class_key``, ``class_name``, ``class_hotkey``,
    ``class_description``, one of each per row), so the page can add and remove rows without
    renumbering; blank rows are ignored.
    """

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    modality = forms.ChoiceField(choices=Modality.choices, initial=Modality.IMAGE)
    task_type = forms.ChoiceField(choices=TaskType.choices, initial=TaskType.CLASSIFICATION, label="Task")
    overlap = forms.IntegerField(
        min_value=1,
        max_value=50,
        initial=3,
        label="Overlap k",
        help_text="how many labelers answer each item (3 or more measures agreement and HLP)",
    )
    borderline = forms.BooleanField(required=False, initial=True, help_text="an answer may be marked borderline")
    uncertain = forms.BooleanField(required=False, initial=True, help_text="a labeler may say they are unsure")
    out_of_domain = forms.BooleanField(
        required=False, label="Out of domain", help_text="an item may be marked as not belonging to the task"
    )
    guideline = forms.CharField(
        required=False,
        label="First guideline",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="markdown shown beside every item; published as version 1 (edit it later on Guidelines)",
    )

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.class_errors = []  # errors about the classes as a whole
        if data is None:
            self.class_rows = [ClassRow(), ClassRow()]
        else:
            columns = [data.getlist(f"class_{name}") for name in CLASS_FIELDS]
            n = max(len(c) for c in columns)
            self.class_rows = [
                ClassRow(
                    **{name: (col[i] if i < len(col) else "") for name, col in zip(CLASS_FIELDS, columns, strict=True)}
                )
                for i in range(n)
            ]

    def clean(self):
        cleaned = super().clean()
        modality, task_type = cleaned.get("modality"), cleaned.get("task_type")
        if modality and task_type and task_type not in TASKS_BY_MODALITY[modality]:
            needed = SHAPE_TASKS.get(task_type, (None,))[0]
            hint = f": choose {needed}" if needed else ""
            self.add_error("task_type", f"a {modality} project cannot be a {task_type} project{hint}")
        self._clean_classes(task_type)
        return cleaned

    def _clean_classes(self, task_type):
        rows = [row for row in self.class_rows if not row.blank]
        if task_type == TaskType.TRANSCRIPTION:
            self.classes = []  # the page hides the classes of a transcription project: none are kept
            return
        if len(rows) > MAX_CLASSES:
            self.class_errors.append(f"at most {MAX_CLASSES} classes")
        keys, hotkeys = {}, {}
        for row in rows:
            key = row.key or _key_from(row.name)
            if not key and row.name.strip():
                # slugify keeps only ASCII letters: "猫" or "كلب" make no key, though a name was given
                row.errors["key"] = (
                    f"no key can be made from the name '{row.name.strip()}' (a key uses only {KEY_LETTERS}): "
                    "type one, such as 'cat'"
                )
            elif not key:
                row.errors["key"] = "a class needs a key (or a name to make one from)"
            else:
                try:
                    class_key_validator(key)
                except ValidationError as exc:
                    row.errors["key"] = _key_refusal(key, exc)
                if key in keys:
                    row.errors["key"] = f"the key '{key}' is already used by another class"
                keys.setdefault(key, row)
            row.values["key"] = key
            if row.hotkey:
                if len(row.hotkey) != 1:
                    row.errors["hotkey"] = "a keyboard key is one character"
                elif row.hotkey.lower() in RESERVED_HOTKEYS:
                    reserved = ", ".join(sorted(RESERVED_HOTKEYS))
                    row.errors["hotkey"] = f"'{row.hotkey}' is kept by the labeling page ({reserved})"
                elif row.hotkey in hotkeys:
                    row.errors["hotkey"] = f"'{row.hotkey}' is already the key of '{hotkeys[row.hotkey]}'"
                else:
                    hotkeys[row.hotkey] = key
            if len(row.name) > 200:
                row.errors["name"] = "at most 200 characters"
        if task_type == TaskType.CLASSIFICATION and len(rows) < 2:
            self.class_errors.append("a classification project needs at least two classes")
        elif task_type in SHAPE_TASKS and not rows:
            self.class_errors.append(f"a {task_type} project needs at least one class")
        if self.class_errors or any(row.errors for row in rows):
            # A form-level error keeps is_valid() False; the page shows the messages by row.
            self.add_error(None, "Some classes need fixing (see below).")
        self.classes = [row.spec() for row in rows]

    def tasks_by_modality(self):
        """For the page's script: which task types each modality offers."""
        return {modality: [str(t) for t in tasks] for modality, tasks in TASKS_BY_MODALITY.items()}

    def service_kwargs(self):
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "modality": data["modality"],
            "task_type": data["task_type"],
            "classes": self.classes,
            "options": {flag: data[flag] for flag in ("borderline", "uncertain", "out_of_domain")},
            "overlap": data["overlap"],
            "guideline": data["guideline"],
        }

    def add_service_errors(self, exc):
        """Put a service's ValidationError next to the fields it names (classes: above the table)."""
        for field, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            if field == "classes":
                self.class_errors.extend(messages)
                field = None
            self.add_error(field if field in self.fields else None, messages)


class ProjectSettingsForm(forms.Form):
    """What a manager may change after creation (the modality, task and classes stay; classes change on
    the Classes page as recorded taxonomy changes)."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    overlap = forms.IntegerField(min_value=1, max_value=50, label="Overlap k")
    borderline = forms.BooleanField(required=False)
    uncertain = forms.BooleanField(required=False)
    out_of_domain = forms.BooleanField(required=False, label="Out of domain")

    @classmethod
    def for_project(cls, project, data=None):
        initial = {
            "name": project.name,
            "description": project.description,
            "overlap": project.overlap,
            **project.options,
        }
        return cls(data, initial=initial)

    def service_kwargs(self):
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "overlap": data["overlap"],
            "options": {flag: data[flag] for flag in ("borderline", "uncertain", "out_of_domain")},
        }


class MemberAddForm(forms.Form):
    """A user, by username or e-mail, and the role to give them. An e-mail address with no account here
    is invited instead (``user`` is None and ``invite_email`` holds the address)."""

    who = forms.CharField(max_length=254, label="Username or e-mail")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.LABELER)

    def clean_who(self):
        who = self.cleaned_data["who"].strip()
        self.user, self.invite_email = None, ""
        try:
            self.user = user_find(username=who)
        except ValidationError:
            if "@" not in who:
                raise ValidationError(f"no user named '{who}' (to invite someone new, give their e-mail)") from None
            if not get_user_model().objects.filter(email__iexact=who).exists():
                self.invite_email = who
                return who
            try:
                self.user = user_find(email=who)
            except ValidationError as exc:  # several users share the address
                raise ValidationError(exc.message_dict["email"]) from None
        return who

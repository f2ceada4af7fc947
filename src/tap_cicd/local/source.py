"""The source ``tap run`` uploads: a directory zipped as ``docker build`` would send it as its
context (honouring ``.dockerignore``), or a zip file taken as it is; its upload to the stack's
source bucket, and the execution that upload started.

The zip is deterministic: entries sorted, every timestamp the same, modes kept (the executable
bit of a test script matters), so the same source always gives the same bytes.

``.dockerignore`` follows Docker's documented rules
(https://docs.docker.com/build/concepts/context/#dockerignore-files): a line starting with
``#`` is a comment; each pattern is trimmed and cleaned (``filepath.Clean``) and a leading
``/`` dropped; ``*`` and ``?`` stop at ``/``, ``**`` matches any number of directories
(including none); a pattern excludes a path when it matches the path or one of its parent
directories; ``!`` makes an exception and the last matching line decides; ``Dockerfile`` and
``.dockerignore`` are sent even when excluded. The matching itself is moby's patternmatcher
(the code Docker runs), ported here; so is its walk, which descends into an excluded directory
only when an exception pattern starts with that directory's path.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import stat
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_cicd.config import SourceSettings
from tap_cicd.errors import RunFailedError, UnknownStackError, UsageError
from tap_cicd.local.run import POLL_SECONDS, Clients

IGNORE_FILE = ".dockerignore"
DOCKERFILE = "Dockerfile"
"""What the build's ``docker build .`` reads (the buildspec names no other file)."""
START_SECONDS = 15.0
"""How long an upload may take to start an execution before ``tap run`` gives up."""
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
"""The earliest time a zip entry can carry: every entry gets it."""
_ESCAPED = set(".+()|{}$")
"""Characters moby escapes when it turns a pattern into a regular expression."""
_WILDCARDS = {"*": "[^/]*", "?": "[^/]", "[": "[", "]": "]"}
"""``*`` and ``?`` stop at ``/``; ``[...]`` is a character class."""


class PatternError(ValueError):
    """A ``.dockerignore`` line Docker would refuse."""


@dataclass
class Pattern:
    """One cleaned pattern, matched as moby's ``patternmatcher.Pattern`` matches."""

    text: str
    exclusion: bool

    def __post_init__(self) -> None:
        self.kind, self.regex = _compile(self.text)

    def matches(self, path: str) -> bool:
        """Whether the slash-separated ``path`` matches the pattern itself."""
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":  # "foo**": anything that starts with "foo"
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":  # "**foo": anything that ends with "foo"; "**/foo" also "foo"
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        return self.regex is not None and self.regex.match(path) is not None

    def matches_or_parent(self, path: str) -> bool:
        """The pattern matches ``path`` or one of its parent directories."""
        parts = path.split("/")
        return any(self.matches("/".join(parts[: i + 1])) for i in range(len(parts)))


def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """moby's ``Pattern.compile``: the match kind and, for ``regexp``, the expression."""
    regex, kind, i = "^", "exact", 0
    while i < len(pattern):
        start = i
        if pattern.startswith("**", i):
            i += 3 if pattern.startswith("/", i + 2) else 2  # "**/" is "**"
            if i >= len(pattern):  # a trailing "**" accepts everything, as in .gitignore
                kind, piece = ("prefix", "") if kind == "exact" else ("regexp", ".*")
            else:
                kind, piece = "regexp", "(.*/)?"
            kind = "suffix" if start == 0 else kind
        else:
            piece, special, i = _piece(pattern, i)
            kind = "regexp" if special else kind
        regex += piece
    if kind != "regexp":
        return kind, None
    try:
        return kind, re.compile(regex + "$")
    except re.error as error:
        raise PatternError(f"bad pattern '{pattern}': {error}") from None


def _piece(pattern: str, i: int) -> tuple[str, bool, int]:
    """The expression for the character at ``i``: (piece, whether it makes the pattern a
    regular expression, where the next character is)."""
    char = pattern[i]
    if char in _WILDCARDS:
        return _WILDCARDS[char], True, i + 1
    if char in _ESCAPED:
        return "\\" + char, False, i + 1
    if char == "\\":
        if i + 1 < len(pattern):  # escapes the next character
            return "\\" + pattern[i + 1], True, i + 2
        return "\\\\", False, i + 1
    return char, False, i + 1


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash-separated path."""
    cleaned = posixpath.normpath(path) if path else "."
    # normpath keeps a leading "//" (POSIX allows it a meaning); Go's Clean does not.
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def read_patterns(text: str) -> list[Pattern]:
    """The patterns of a ``.dockerignore`` file, as moby's ``ignorefile.ReadAll`` reads them."""
    patterns = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        if raw.startswith("#"):  # a comment only in column 1
            continue
        line = raw.strip()
        exclusion = line.startswith("!")
        line = clean(line[1:].strip() if exclusion else line) if line != "!" else ""
        line = line[1:] if len(line) > 1 and line.startswith("/") else line
        if not line or line == ".":
            if exclusion and not line:  # patternmatcher: 'illegal exclusion pattern: "!"'
                raise PatternError(f"line {number}: illegal exclusion pattern '!'")
            continue
        try:
            patterns.append(Pattern(line, exclusion))
        except PatternError as error:
            raise PatternError(f"line {number}: {error}") from None
    return patterns


class Ignore:
    """A context's ``.dockerignore``, with the build files always sent (as Docker's CLI adds
    ``!.dockerignore`` and ``!Dockerfile`` when the file would exclude them)."""

    def __init__(self, patterns: list[Pattern]) -> None:
        self.patterns = patterns
        for always in (IGNORE_FILE, DOCKERFILE):
            if self.excludes(always):
                self.patterns = [*self.patterns, Pattern(always, exclusion=True)]

    def excludes(self, path: str) -> bool:
        """patternmatcher's ``MatchesOrParentMatches``: the last pattern that matches decides."""
        excluded = False
        for pattern in self.patterns:
            # An inclusion cannot change an excluded path, nor an exception an included one.
            if pattern.exclusion != excluded:
                continue
            if pattern.matches_or_parent(path):
                excluded = not pattern.exclusion
        return excluded

    def may_reinclude(self, directory: str) -> bool:
        """Whether an exception may bring back something under an excluded ``directory``:
        Docker descends into it only when an exception pattern starts with its path."""
        return any(
            p.exclusion and (p.text + "/").startswith(directory + "/") for p in self.patterns
        )


def context_files(root: Path) -> list[tuple[str, Path]]:
    """Every file ``docker build`` would send from ``root`` (its path in the context, and on
    disk), sorted. Symbolic links are followed (a loop is not), as ``zip -r`` does; dangling
    links and special files (sockets, FIFOs) are left out."""
    ignore_path = root / IGNORE_FILE
    try:
        text = ignore_path.read_text(encoding="utf-8") if ignore_path.is_file() else ""
        ignore = Ignore(read_patterns(text))
    except (OSError, UnicodeDecodeError, PatternError) as error:
        raise UsageError(f"cannot read {ignore_path}: {error}") from None
    found: list[tuple[str, Path]] = []
    _walk(root, "", ignore, {root.resolve()}, found)
    return sorted(found)


def _walk(
    directory: Path, prefix: str, ignore: Ignore, seen: set[Path], found: list[tuple[str, Path]]
) -> None:
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        name = f"{prefix}{entry.name}"
        path = Path(entry.path)
        excluded = ignore.excludes(name)
        if path.is_dir():
            real = path.resolve()
            if real in seen or (excluded and not ignore.may_reinclude(name)):
                continue
            _walk(path, f"{name}/", ignore, seen | {real}, found)
        elif path.is_file() and not excluded:
            found.append((name, path))


def zip_directory(root: Path) -> bytes:
    """The context of ``root`` as a deterministic zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, path in context_files(root):
            entry = zipfile.ZipInfo(name, ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 3  # Unix: the mode below is read back by unzip and CodeBuild
            entry.external_attr = (stat.S_IFREG | (path.stat().st_mode & 0o777)) << 16
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def package(source: Path) -> bytes:
    """The bytes to upload as ``source.zip``: a directory zipped, a ``.zip`` file as it is;
    anything else is a ``UsageError``."""
    if source.is_dir():
        try:
            return zip_directory(source)
        except OSError as error:
            raise UsageError(f"cannot zip {source}: {error}") from None
    if source.is_file() and source.suffix.lower() == ".zip":
        if not zipfile.is_zipfile(source):
            raise UsageError(f"--source {source} is not a zip archive")
        return source.read_bytes()
    what = "does not exist" if not source.exists() else "is neither a directory nor a .zip file"
    raise UsageError(f"--source {source} {what}")


@dataclass(frozen=True)
class RunTarget:
    """What ``tap run`` needs of a deployed stack, from its outputs."""

    stack: str
    pipeline: str
    pipeline_arn: str
    bucket: str

    @classmethod
    def from_outputs(cls, stack: str, outputs: Mapping[str, Any]) -> RunTarget:
        """The stack's pipeline and source bucket; a GitHub source is a ``UsageError``."""
        if not outputs.get("pipelineName"):
            raise UnknownStackError(
                f"stack '{stack}' has no pipeline yet: deploy it with 'tap up --stack {stack}'"
            )
        if "sourceBucketName" not in outputs:
            raise UsageError(
                f"stack '{stack}' takes its source from GitHub, which the emulator cannot "
                f"reach: use source=s3 locally ('tap config set source s3 --stack {stack}', "
                "then 'tap up')"
            )
        return cls(
            stack, outputs["pipelineName"], outputs["pipelineArn"], outputs["sourceBucketName"]
        )


def _executions(clients: Clients, target: RunTarget) -> dict[str, float]:
    """The newest executions (ListPipelineExecutions lists newest first): id -> start time.
    https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListPipelineExecutions.html
    """
    summaries = clients("codepipeline").list_pipeline_executions(
        pipelineName=target.pipeline, maxResults=100
    )["pipelineExecutionSummaries"]
    return {s["pipelineExecutionId"]: s["startTime"].timestamp() for s in summaries}


def upload(
    clients: Clients,
    target: RunTarget,
    data: bytes,
    *,
    hint: Callable[[str], str] = lambda _rule: "",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wait: float | None = None,
) -> tuple[str, dict[str, Any]]:
    """Upload ``source.zip``; return the execution the upload started and what was uploaded.
    ``RunFailedError`` when none starts within ``wait`` seconds (default ``START_SECONDS``;
    ``hint(rule)`` may add what became of the rule's delivery).

    A plain PutObject: the bucket's policy asks only for TLS, and its default encryption
    applies the stack's KMS key (SSE-KMS), as on AWS.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-bucket-encryption.html
    The bucket sends S3's Object Created event to EventBridge, whose source rule starts the
    pipeline: the new execution is the first one ListPipelineExecutions did not list before.
    """
    before = _executions(clients, target)
    key = SourceSettings.OBJECT_KEY
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
    put = clients("s3").put_object(Bucket=target.bucket, Key=key, Body=data)
    source = {"bucket": target.bucket, "key": key, "versionId": put.get("VersionId")}
    source["bytes"] = len(data)
    wait = START_SECONDS if wait is None else wait
    deadline = clock() + wait
    while True:
        new = {i: t for i, t in _executions(clients, target).items() if i not in before}
        if new:
            return min(new, key=lambda i: new[i]), source
        if clock() >= deadline:
            break
        sleep(POLL_SECONDS)
    # https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_ListRuleNamesByTarget.html
    rules = clients("events").list_rule_names_by_target(TargetArn=target.pipeline_arn)
    rule = (rules.get("RuleNames") or [None])[0]
    what = f"its source rule {rule} did not start it{hint(rule)}" if rule else "no rule targets it"
    raise RunFailedError(
        f"no execution of pipeline {target.pipeline} started within {wait:g} s of the upload "
        f"of s3://{target.bucket}/{key}: {what}"
    )

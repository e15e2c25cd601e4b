"""Tests for gating.summary: aliases, forms, encodings and one clear error per bad file."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gating import IncompleteSummaryError, SummaryError, parse_summary
from gating import summary as summary_module
from gating.summary import MAX_TEXT_CHARS, check_names
from tests.conftest import make_model, make_summary


def test_canonical_summary_parses() -> None:
    """The canonical example gives its fields and one model per symbol."""
    raw = json.dumps(
        {
            "run_id": "ppo-2024-12-24-a",
            "created_at": "2024-12-24T10:00:00Z",
            "validation_interval": 10000,
            "reward_scale": 0.001,
            "models": {"AAPL": make_model(history=[0.70, 0.75, 0.78, 0.75])},
        }
    ).encode()
    summary = parse_summary(raw)
    assert summary.run_id == "ppo-2024-12-24-a"
    assert summary.validation_interval == 10000
    assert summary.reward_scale == 0.001
    assert summary.raw == raw
    (model,) = summary.models
    assert (model.symbol, model.fitness, model.fitness_history[-1]) == ("AAPL", 0.75, 0.75)


def test_aliases_list_form_nan_infinity_and_bom() -> None:
    """Aliases, list-form models, NaN/Infinity and a UTF-8 BOM are all accepted."""
    text = (
        '{"models": [{"symbol": "MSFT", "final_fitness": 0.8, "final_pf": Infinity, '
        '"final_consistency": NaN, "final_max_dd": -0.05, "history": [0.1, NaN, null]},'
        '{"symbol": "AAPL", "fitness": 0.8, "pf": 2, "consistency": 0.9, "max_dd": 0.01}]}'
    )
    summary = parse_summary(b"\xef\xbb\xbf" + text.encode())
    msft, aapl = summary.models
    assert msft.profit_factor == math.inf
    assert msft.consistency is None
    assert msft.max_drawdown == 0.05
    assert msft.fitness_history == (0.1, None, None)
    assert aapl.symbol == "AAPL"


def test_dict_input_and_unknown_keys_are_kept() -> None:
    """A dict is accepted; unknown keys stay in the raw bytes and are otherwise ignored."""
    summary = parse_summary(make_summary(extra_field={"anything": 1}))
    assert b"extra_field" in summary.raw
    assert len(summary.sha256) == 64


def _with_model(model: dict[str, Any]) -> bytes:
    return json.dumps({"models": {"AAPL": model}}).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "file: empty"),
        (b'{"models": {"AAPL": ', "file: its JSON stops short, cut off or still being written"),
        (b'{"models": {"AAPL": 1}} x', "file: not valid JSON"),
        (b'{"run_id": "\xc3', "file: stops inside a character .offset 12., cut off"),
        (b"\xff\xfe{\x00}\x00", "UTF-16"),
        (b'{"run_id": "\xe9t\xe9"}', "not UTF-8"),
        (b'\xef\xbb\xbf{"run_id": "\xe9"}', "byte 0xe9 at offset 15"),  # counted in the file
        (b"[" * 100_000 + b"]" * 100_000, "nesting deeper than 64"),
        (b'{"a":' * 70 + b"1" + b"}" * 70, "nesting deeper than 64"),
        (b"[1, 2]", "top level: expected an object, got an array"),
        (b'{"run_id": "x"}', "models: missing"),
        (b'{"models": {}}', "models: no models"),
        (b'{"models": 3}', "models: expected an object or an array"),
        (b'{"models": {"AAPL": 1}}', "models.AAPL: expected an object, got a number"),
        (_with_model({"fitness": 1, "pf": 2, "consistency": 0.9}), "models.AAPL.max_drawdown"),
        (_with_model({"fitnes": 1, "pf": 2, "consistency": 0.9, "max_dd": 0}), "fitness: missing"),
        (
            _with_model({"fitness": 1, "pf": 2, "consistency": 85, "max_dd": 0}),
            re.escape("models.AAPL.consistency: 85 is not a fraction in [0, 1]"),
        ),
        (
            _with_model({"fitness": 1, "pf": 2, "final_consistency": 0.9, "max_dd": 12}),
            "models.AAPL.max_dd: 12 is not a fraction",
        ),
        (_with_model({"fitness": 1, "pf": -1, "consistency": 0.9, "max_dd": 0}), "negative"),
        (
            _with_model({"fitness": "0.8", "pf": 2, "consistency": 0.9, "max_dd": 0}),
            "models.AAPL.fitness: '0.8' is not a number",
        ),
        (
            _with_model({"fitness": 1, "pf": 2, "consistency": 0.9, "max_dd": 0, "history": 1}),
            "models.AAPL.history: expected an array",
        ),
        (
            _with_model(
                {"fitness": 1, "pf": 2, "consistency": 0.9, "max_dd": 0, "history": [0.1, "x"]}
            ),
            r"models.AAPL.history\[1\]",
        ),
        (
            _with_model({"fitness": 1, "final_fitness": 1, "pf": 2, "consistency": 1, "max_dd": 0}),
            "both 'fitness' and 'final_fitness'",
        ),
        (b'{"models": {"AAPL": {}, "AAPL": {}}}', "models: duplicate key 'AAPL'"),
        (
            b'{"models": {"X": {"fitness": 0.8}}}',
            r"^models.X.profit_factor: missing \(also accepted: pf, final_pf\); also missing: "
            "consistency, max_drawdown$",
        ),
        (
            b'{"models": [{"symbol": "A", "fitness": 1, "pf": 2, "consistency": 1, "max_dd": 0},'
            b' {"symbol": "A", "fitness": 1, "pf": 2, "consistency": 1, "max_dd": 0}]}',
            "duplicate symbol 'A'",
        ),
        (b'{"models": [{"symbol": ""}]}', r"models\[0\].symbol: symbol must be a non-empty"),
        (b'{"models": {"": {}}}', "symbol must be a non-empty string"),
        (b'{"validation_interval": 0, "models": {}}', "validation_interval: 0 is not a positive"),
        (b'{"validation_interval": 1.5, "models": {}}', "validation_interval: expected a pos"),
        (
            b'{"validation_interval": 4611686018427387904, "models": {"A": {"fitness": 0.8, '
            b'"profit_factor": 2, "consistency": 0.9, "max_drawdown": 0.05, '
            b'"fitness_history": [0.5, 0.9]}}}',
            r"validation_interval: 4611686018427387904 is too large: a checkpoint step would "
            r"pass 2\*\*63 - 1 \(2 validations\)",
        ),
        (b'{"run_id": 7, "models": {}}', "run_id: expected a string"),
        (
            _with_model({"fitness": 10**400, "pf": 2, "consistency": 0.9, "max_dd": 0}),
            r"models.AAPL.fitness: 1000000\d+… is too large \(beyond ±1.8e308\)",
        ),
        (
            _with_model({"fitness": 1, "pf": -(10**400), "consistency": 0.9, "max_dd": 0}),
            r"models.AAPL.pf: -1000000\d+… is negative",
        ),
        (
            _with_model(
                {"fitness": 1, "pf": 2, "consistency": 0.9, "max_dd": 0, "history": ["x" * 999]}
            ),
            r"history\[0\]: 'xxxxx+… is not a number$",
        ),
        (b'{"run_id": "\\ud800", "models": {}}', "run_id: '\\\\ud800' holds a lone surrogate"),
        (b'{"created_at": "a\\udfff", "models": {}}', "created_at: .* holds a lone surrogate"),
        (b'{"models": {"A\\udc00": {}}}', "models: 'A\\\\udc00' holds a lone surrogate"),
        (b'{"run_id": "a\\u0000b", "models": {}}', r"run_id: 'a\\x00b' holds a NUL character"),
        (b'{"created_at": "\\u0000", "models": {}}', "created_at: .* holds a NUL character"),
        (b'{"models": {"A\\u0000": {}}}', "models: .* holds a NUL character"),
        (
            b'{"models": [{"symbol": "\\ud83d", "fitness": 1}]}',
            r"models\[0\].symbol: .* holds a lone surrogate",
        ),
        (b'{"models": {"A": {"x": 1, "x": 2}}, "at": "10:00"}', "models.A: duplicate key 'x'"),
        (
            json.dumps({"models": {"S" * 999: {"fitness": 1}}}).encode(),
            "^models.S{40}….profit_factor: missing",
        ),
        (b'{"models": [{"symbol": "A", "x": 1, "x": 2}]}', r"models\[0\]: duplicate key 'x'"),
    ],
)
def test_bad_summaries_are_one_clear_error(raw: bytes, message: str) -> None:
    """Each malformed summary raises SummaryError with a message naming the problem."""
    with pytest.raises(SummaryError, match=message) as caught:
        parse_summary(raw)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        ({"models": {"A": make_model()}, 1: "a", "1": "b"}, "top level: duplicate key '1'"),
        (
            {"models": {"A": make_model(fitness=Decimal("0.8"))}},  # type: ignore[arg-type]
            r"^models\.A\.fitness \(Decimal\): cannot be written as JSON",
        ),
        (
            {"models": {"A": make_model(history=[0.5, Decimal(1)])}},  # type: ignore[list-item]
            r"^models\.A\.fitness_history\[1\] \(Decimal\): cannot be written as JSON",
        ),
        ({"models": {"A": make_model()}, "hp": {"lr": {1}}}, r"^hp\.lr \(set\): cannot be"),
        (
            {"models": {"A": {"fitness": Decimal(1)}, "B": {"fitness": {1}}}},
            r"^models\.A\.fitness \(Decimal\): .*type Decimal",
        ),
        ({"models": {None: make_model()}}, "^models: symbol must be a non-empty string, got None"),
        ({"models": {True: make_model()}}, "^models: symbol must be a non-empty string, got True"),
    ],
    ids=[
        "keys 1 and '1'",
        "a Decimal metric",
        "a Decimal in a history",
        "a set",
        "the first of two named",
        "a None symbol",
        "a True symbol",
    ],
)
def test_a_dict_is_judged_as_the_json_it_is_written_as(
    summary: dict[Any, Any], message: str
) -> None:
    """A dict is refused as its summary.json would be (keys 1 and "1" were archived, then
    refused by re-gating as a duplicate key), and a value JSON has no type for is named by
    its path (numpy's float32 said only "Object of type float32 is not JSON serializable")."""
    with pytest.raises(SummaryError, match=message):
        parse_summary(summary)


def test_a_dict_holding_itself_is_one_line_at_once() -> None:
    """json's "Circular reference" (the walk for the value's path went round for ever,
    gigabytes in seconds)."""
    summary: dict[str, Any] = {"models": {"A": make_model()}}
    summary["models"]["A"]["meta"] = summary
    with pytest.raises(SummaryError, match=r"^file: cannot be written as JSON: Circular"):
        parse_summary(summary)


def test_huge_integers_read_as_the_standard_parser_reads_them() -> None:
    """An integer beyond 64 bits stays an integer where one is needed, else is infinite (in
    a history: no measurement, as an infinity is)."""
    raw = json.dumps({"validation_interval": 10**30, "models": {"A": make_model()}}).encode()
    interval = parse_summary(raw).validation_interval
    assert (interval, type(interval)) == (10**30, int)
    raw = json.dumps({"models": {"A": make_model(pf=10**400, history=[10**400])}}).encode()
    summary = parse_summary(raw)
    assert summary.models[0].profit_factor == math.inf
    assert summary.models[0].fitness_history == (None,)


def test_file_larger_than_max_bytes_is_rejected() -> None:
    """A file over max_file_bytes is rejected before it is parsed."""
    with pytest.raises(SummaryError, match="larger than max_file_bytes"):
        parse_summary(json.dumps(make_summary()).encode(), max_bytes=10)


def test_explicit_null_metric_is_missing_not_an_error() -> None:
    """An explicit null is a missing metric, not a schema error."""
    summary = parse_summary(_with_model(make_model(fitness=None)))
    assert summary.models[0].fitness is None


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_bytes_give_a_summary_or_summary_error(raw: bytes) -> None:
    """Fuzzing with raw bytes never raises anything but SummaryError."""
    try:
        summary = parse_summary(raw)
    except SummaryError as error:
        assert ": " in str(error)
        assert "\n" not in str(error)
    else:
        assert summary.models


_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)
_model_like = st.dictionaries(
    st.sampled_from(["fitness", "pf", "consistency", "max_dd", "history", "symbol", "x"]),
    _json,
)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["AAPL", "MSFT", ""]), _model_like) | _json)
def test_any_json_gives_a_summary_or_summary_error(models: Any) -> None:
    """Structured fuzzing of the models field never raises anything but SummaryError."""
    try:
        summary = parse_summary(json.dumps({"models": models}).encode())
    except SummaryError as error:
        assert ": " in str(error)
    else:
        assert all(model.symbol for model in summary.models)


def test_a_time_in_created_at_takes_the_fast_parse() -> None:
    """The colons of a created_at time are told apart from key/value colons."""
    summary = make_summary(created_at="2024-12-24T10:00:00Z")
    raw = json.dumps(summary, ensure_ascii=False).encode()
    assert summary_module._plain_document(raw) == summary
    repeated = raw.replace(b'"run_id"', b'"run_id": "x", "run_id"', 1)
    assert summary_module._plain_document(repeated) is None
    with pytest.raises(SummaryError, match="top level: duplicate key 'run_id'"):
        parse_summary(repeated)


@settings(max_examples=500)
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c:", "{", "models"]), _json, max_size=4)
    | st.binary(max_size=200),
    st.booleans(),
)
@example({"a": -9223372036854775809}, False)  # orjson made a float of it (found by CI)
@example({"a": [0.5, 2**64]}, True)
def test_fast_parse_is_the_standard_parse_or_nothing(document: Any, ascii_only: bool) -> None:
    """orjson's shortcut either gives exactly what the standard parser gives or steps aside."""
    if isinstance(document, bytes):
        raw = document
    else:
        text = json.dumps(document, ensure_ascii=ascii_only)
        # Repeat a key now and then: the shortcut must notice and step aside.
        raw = text.replace('"b":', '"a":', 1).encode() if '"b":' in text else text.encode()
    fast = summary_module._plain_document(raw)
    if fast is not None:
        assert fast == json.loads(raw, object_pairs_hook=_no_duplicates)
        assert type(fast.get("validation_interval")) is not float


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(set(keys)) == len(keys), f"duplicate key among {keys}"
    return dict(pairs)


@pytest.mark.parametrize("field", ["validation_interval", "models.A.profit_factor"])
def test_an_integer_of_too_many_digits_is_one_line(field: str) -> None:
    """An integer longer than int() reads (4,300 digits) is a SummaryError naming it, not a
    ValueError from the parser (it killed the service's worker at every start)."""
    huge = "9" * 5000
    model = '{"fitness": 0.8, "profit_factor": 2, "consistency": 0.9, "max_drawdown": 0.05}'
    if field == "models.A.profit_factor":
        model = model.replace('"profit_factor": 2', f'"profit_factor": {huge}')
        raw = f'{{"run_id": "r", "models": {{"A": {model}}}}}'
    else:
        raw = f'{{"run_id": "r", "validation_interval": {huge}, "models": {{"A": {model}}}}}'
    with pytest.raises(SummaryError, match="a number has more than 4300 digits"):
        parse_summary(raw.encode())


EVERY_KIND = (
    '\ufeff{"run_id": "r\\u00e9-\\"x\\\\", "created_at": "2026-01-01T00:00:00Z", '
    '"validation_interval": 10, "models": {"AAPL": {"fitness": -1.5e-3, '
    '"profit_factor": Infinity, "consistency": NaN, "max_drawdown": -0.05, '
    '"fitness_history": [0.1, null, -Infinity, 1E+2, 2]}, "ÉTÉ": {"pf": 1, "fitness": 0.5, '
    '"consistency": 0.5, "max_dd": 0.5, "extra": [true, false, {}, []]}}}\n'
).encode()


def test_every_cut_of_a_summary_is_incomplete() -> None:
    """Each strict prefix of a summary (cut inside a string, an escape, a literal, a number
    or a UTF-8 character) is an IncompleteSummaryError: a writer may still be at work."""
    parse_summary(EVERY_KIND)  # whole, it is valid
    for end in range(len(EVERY_KIND.rstrip())):
        with pytest.raises(IncompleteSummaryError):
            parse_summary(EVERY_KIND[:end])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"models": {"AAPL": 1,}}',
        b'{"models": {"AAPL": }}',
        b'{"models": nothing}',
        b'{"models": {"AAPL": 1}} trailing',
        b'{"models": {"AAPL": 1}} 1',
        b'{"models": {"AAPL": 1}}\nnull',
        b'{"run_id": "x\n',
        b'{"run_id": "\\u00zz"}',
        b'{"run_id": "\xe9t\xe9"}',
        b'{"models": 1.5.5}',
        b"[1, 2]",
    ],
)
def test_a_file_wrong_before_its_end_is_not_incomplete(raw: bytes) -> None:
    """A file wrong anywhere but at its very end is rejected at once, never waited for."""
    with pytest.raises(SummaryError) as caught:
        parse_summary(raw)
    assert not isinstance(caught.value, IncompleteSummaryError)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"symbol": "S" * 1001}, "^models: 'S+… is 1,001 characters long, at most 1,000$"),
        ({"run_id": "r" * 1_000_000}, "^run_id: 'r+… is 1,000,000 characters long, at most"),
        ({"created_at": "c" * 1001}, "^created_at: 'c+… is 1,001 characters long"),
        # 1,000 characters of four bytes each: PostgreSQL cannot index them (it was retried
        # for a minute at each attempt, for ever)
        (
            {"symbol": "\U00020000" * 1000},
            "^models: .* is 4,000 bytes long in UTF-8, at most 2,000$",
        ),
        ({"run_id": "é" * 1001}, "^run_id: .* is 1,001 characters long"),
    ],
)
def test_a_name_longer_than_max_text_chars_is_refused_by_check_names(
    changes: dict[str, str], message: str
) -> None:
    """A symbol, run id or created_at of more than MAX_TEXT_CHARS characters is one
    SummaryError from check_names (archiving); parsing alone, as re-gating an older run
    does, takes it (a run id of a million characters made every review query take 5 s)."""
    symbol = changes.pop("symbol", "AAPL")
    model = {"fitness": 1, "pf": 2, "consistency": 1, "max_dd": 0}
    document = {**changes, "models": {symbol: model}}
    summary = parse_summary(json.dumps(document).encode())
    with pytest.raises(SummaryError, match=message):
        check_names(summary)


def test_names_of_max_text_chars_pass_check_names() -> None:
    """A symbol and run id of exactly MAX_TEXT_CHARS characters are names still."""
    model = {"fitness": 1, "pf": 2, "consistency": 1, "max_dd": 0}
    document = {"run_id": "r" * MAX_TEXT_CHARS, "models": {"S" * MAX_TEXT_CHARS: model}}
    summary = parse_summary(json.dumps(document).encode())
    assert check_names(summary) is summary
    wide = {"run_id": "é" * MAX_TEXT_CHARS, "models": {"\U00020000" * 500: model}}  # 2,000 bytes
    summary = parse_summary(json.dumps(wide).encode())
    assert check_names(summary) is summary

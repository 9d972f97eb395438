"""The models file: schema, sources, and errors that name the file, the line and the key
(property-based: wherever a bad key sits, its line is the one reported)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmanager_client.info import Provider
from modelmanager_client.triton.models import ModelsFileError, Source, load, parse

NAMES = st.from_regex(r"[a-z][a-z0-9_\-]{0,12}", fullmatch=True)
GOOD_LINES = ['source = "hf://org/name@main"', 'files = ["model.onnx", "*.txt"]', "version = 2",
              'exclude = ["*.md"]', "watch = true", 'config = "c/config.pbtxt"']
BAD_LINES = [("files", 'files = "model.onnx"'), ("version", "version = 0"), ("version", "version = \"2\""),
             ("bogus", "bogus = 1"), ("watch", 'watch = "yes"'), ("rename", 'rename = { "a" = "../x" }'),
             ("source", 'source = "ftp://host/x"')]


def test_the_documented_example_parses(tmp_path: Path) -> None:
    text = (Path(__file__).parents[3] / "docs" / "triton.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    models = parse(example, tmp_path / "models.toml")
    assert set(models.specs) == {"resnet50", "bert", "tokenizer"}
    assert models.spec("resnet50").watch is True
    assert {n: s.url for n, s in models.spec("bert").sources().items()} == {1: "hf://org/bert@v1.0",
                                                                             2: "hf://org/bert@v2.0"}
    assert models.config_file("resnet50", cpu=True) == tmp_path / "configs/resnet50/config-cpu.pbtxt"


@given(NAMES, st.lists(st.sampled_from(GOOD_LINES), unique=True, max_size=4), st.sampled_from(BAD_LINES),
       st.integers(0, 4), st.booleans())
def test_a_bad_key_is_reported_at_its_line(name: str, good: list[str], bad: tuple[str, str], at: int,
                                           quoted: bool) -> None:
    key, line = bad
    body = [g for g in good if not g.startswith(key + " ")]
    if not any(b.startswith("source") for b in body) and key != "source":
        body.insert(0, 'source = "hf://org/name"')
    at = min(at, len(body))
    body.insert(at, line)
    header = f'[models."{name}"]' if quoted else f"[models.{name}]"
    text = "# models\n\n[models.other]\nsource = \"s3://b/p\"\n\n" + header + "\n" + "\n".join(body) + "\n"
    with pytest.raises(ModelsFileError) as caught:
        parse(text, Path("models.toml"))
    expected = text.splitlines().index(line) + 1
    assert f"models.toml:{expected}: models.{name}.{key}" in str(caught.value)


def test_missing_source_names_the_table_line_and_errors_are_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[models.a]\nsource = "hf://o/a"\n\n[models.b]\nfiles = ["x"]\n[models.c]\nwatch = true\n'
                    '[models.c.versions]\n1 = "hf://o/c@1"\n')
    with pytest.raises(ModelsFileError) as caught:
        load(path)
    lines = str(caught.value).splitlines()
    assert lines == [f"{path}:4: models.b: give either source (and version) or a versions table",
                     f"{path}:6: models.c: watch needs one source (new versions are numbered after the highest)"]


@pytest.mark.parametrize(("text", "where"), [
    ('[models.a]\nsource = "hf://o/a"\nversion = \n', "line 3"),
    ('[models.a]\nsource = "hf://o/a"\n[models.a]\n', "line 3"),
])
def test_invalid_toml_names_the_line(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ModelsFileError, match=f"not valid TOML: .*{where}"):
        parse(text, tmp_path / "m.toml")


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ModelsFileError, match="cannot read the models file"):
        load(tmp_path / "missing.toml")
    with pytest.raises(ModelsFileError, match="models: Field required"):
        parse("", tmp_path / "m.toml")
    with pytest.raises(ModelsFileError, match=r"model name '\.hidden'"):
        parse('[models.".hidden"]\nsource = "hf://o/a"\n', tmp_path / "m.toml")


@given(st.from_regex(r"[a-z0-9][a-z0-9\-]{0,10}", fullmatch=True),
       st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,10}", fullmatch=True),
       st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True)))
def test_hf_sources_parse_and_pin(org: str, name: str, revision: str | None) -> None:
    url = f"hf://{org}/{name}" + (f"@{revision}" if revision else "")
    source = Source.parse(url)
    assert (source.provider, source.repo, source.revision) == (Provider.HF, f"{org}/{name}", revision or "main")
    assert source.at("abc123").url == f"hf://{org}/{name}@abc123"
    assert source.info("proxy:8080").revision == (revision or "main")


@pytest.mark.parametrize(("url", "provider", "repo"), [
    ("s3://models/llama/", Provider.S3, "models/llama"), ("gs://models/llama/", Provider.GCS, "models/llama"),
    ("az://acct/models/llama", Provider.AZURE, "acct/models/llama"),
    ("az://acct/models", Provider.AZURE, "acct/models"),
])
def test_object_store_sources_name_a_prefix(url: str, provider: Provider, repo: str) -> None:
    source = Source.parse(url)
    assert (source.provider, source.repo) == (provider, repo)
    assert source.info("proxy:8080").kind is provider


@pytest.mark.parametrize("url", ["hf://onlyone", "hf://a/b/c", "s3://", "gs://", "az://acct", "https://host/",
                                 "file:///x", "x"])
def test_bad_sources_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"source|names one file"):
        Source.parse(url)

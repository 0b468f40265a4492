from pathlib import Path

import pytest

import corpus_fixtures
from conftest import CORPORA
from data_scripts.corpora import REGISTRY
from data_scripts.corpora.base import CorpusError
from modeling_emotion_whisper.labels import harmonize


@pytest.mark.parametrize("name", sorted(corpus_fixtures.BUILDERS))
def test_parser_reads_the_official_layout(name, tmp_path):
    expected = corpus_fixtures.BUILDERS[name](tmp_path)
    found = REGISTRY[name].prepare(tmp_path)
    got = {}
    for u in found:
        name = Path(u.path).relative_to(tmp_path).with_suffix("").as_posix()
        if u.duration is not None:
            name += f"@{u.offset:.3f}+{u.duration:.3f}"
        got[name] = (u.speaker, {k: pytest.approx(v) for k, v in u.labels.items()})
    assert got == expected
    for u in found:
        harmonize(u.labels)  # every source label has a row in the harmonization table


def test_every_registered_corpus_has_a_fixture():
    assert set(REGISTRY) == set(corpus_fixtures.BUILDERS)
    for corpus in REGISTRY.values():
        assert corpus.layout and corpus.license and corpus.language and corpus.url


def test_savee_flat_mirror_layout(tmp_path):
    expected = corpus_fixtures.savee(tmp_path, flat=True)
    assert len(REGISTRY["savee"].prepare(tmp_path)) == len(expected) == 28


def test_missing_or_wrong_folder_names_the_corpus_and_layout(tmp_path):
    with pytest.raises(CorpusError, match="(?s)ravdess: .* is not a folder.*Actor_01"):
        REGISTRY["ravdess"].prepare(tmp_path / "nope")
    corpus_fixtures.tess(tmp_path / "tess")
    with pytest.raises(CorpusError, match="(?s)no RAVDESS .* files found.*Actor_01"):
        REGISTRY["ravdess"].prepare(tmp_path / "tess")


def test_nemo_table_and_audio_must_agree(tmp_path):
    corpus_fixtures.nemo(tmp_path)
    (tmp_path / "samples/KS0_neutral_3.opus").unlink()
    with pytest.raises(CorpusError, match="1 row.*no audio.*KS0_neutral_3.wav"):
        REGISTRY["nemo"].prepare(tmp_path)
    corpus_fixtures.write(tmp_path, "samples/KS0_neutral_3")
    corpus_fixtures.write(tmp_path, "samples/XX0_anger_9")
    with pytest.raises(CorpusError, match="1 audio file.*no row in data.tsv.*XX0_anger_9"):
        REGISTRY["nemo"].prepare(tmp_path)


def test_ased_file_in_the_wrong_emotion_folder_is_refused(tmp_path):
    corpus_fixtures.ased(tmp_path)
    (tmp_path / "03Happy/h3-03-01-02-27.wav").rename(tmp_path / "04Sad/h3-03-01-02-27.wav")
    with pytest.raises(CorpusError, match="coded h3 .happy. but lies in folder 04Sad"):
        REGISTRY["ased"].prepare(tmp_path)


SHARED_DIRS = {"ravdess": "RAVDESS", "tess": "TESS", "savee": "SAVEE", "turevdb": "TurEV-DB", "nemo": "nEMO",
               "ased": "ASED"}


@pytest.mark.skipif(not (CORPORA / "nEMO").is_dir(), reason="../shared/corpora (six corpora) is not here")
@pytest.mark.parametrize("name", sorted(SHARED_DIRS))
def test_shared_corpora_give_the_official_counts(name):
    found = REGISTRY[name].prepare(CORPORA / SHARED_DIRS[name])
    assert len(found) == REGISTRY[name].official_count

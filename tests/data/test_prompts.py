"""freqlab.data prompt sets: UCF-101 file, MSR-VTT loaders, custom files, limit and sharding."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from importlib import resources
from pathlib import Path

import pytest

from freqlab.data import PROMPT_SETS, UCF101_PROMPTS_VERSION, Prompt, load_prompts
from freqlab.data.shapes import split_captions

FIXTURES = Path(__file__).parent / "fixtures"
MSRVTT_JSON = FIXTURES / "test_videodatainfo.json"
MSRVTT_CSV = FIXTURES / "MSRVTT_JSFUSION_test.csv"

# The official UCF-101 classInd.txt, lines "1 ApplyEyeMakeup" .. "101 YoYo" (CRCV, UCF101 splits).
UCF101_CLASSIND = """
ApplyEyeMakeup ApplyLipstick Archery BabyCrawling BalanceBeam BandMarching BaseballPitch Basketball
BasketballDunk BenchPress Biking Billiards BlowDryHair BlowingCandles BodyWeightSquats Bowling
BoxingPunchingBag BoxingSpeedBag BreastStroke BrushingTeeth CleanAndJerk CliffDiving
CricketBowling CricketShot CuttingInKitchen Diving Drumming Fencing FieldHockeyPenalty
FloorGymnastics FrisbeeCatch FrontCrawl GolfSwing Haircut Hammering HammerThrow HandstandPushups
HandstandWalking HeadMassage HighJump HorseRace HorseRiding HulaHoop IceDancing JavelinThrow
JugglingBalls JumpingJack JumpRope Kayaking Knitting LongJump Lunges MilitaryParade Mixing
MoppingFloor Nunchucks ParallelBars PizzaTossing PlayingCello PlayingDaf PlayingDhol PlayingFlute
PlayingGuitar PlayingPiano PlayingSitar PlayingTabla PlayingViolin PoleVault PommelHorse PullUps
Punch PushUps Rafting RockClimbingIndoor RopeClimbing Rowing SalsaSpin ShavingBeard Shotput
SkateBoarding Skiing Skijet SkyDiving SoccerJuggling SoccerPenalty StillRings SumoWrestling
Surfing Swing TableTennisShot TaiChi TennisSwing ThrowDiscus TrampolineJumping Typing UnevenBars
VolleyballSpiking WalkingWithDog WallPushups WritingOnBoard YoYo
""".split()

# sha256 of the packaged v1 file's text ("\n" line ends). A change to the file needs a new version.
UCF101_V1_SHA256 = "59be6f98aad7ff098484c22031d8f06a12ad46c773c797b9e34c3b9e6f6850c7"

# caption_seed=0 on the JSON fixture: pinned, so every machine and Python gives these prompts.
MSRVTT_JSON_SEED0 = {
    "msrvtt/video7010": "a baker demonstrates a technique",
    "msrvtt/video7011": "a red car drives down a road",
    "msrvtt/video8000": "a cute cat",
    "msrvtt/video9999": "a news anchor interviews a guest",
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _write_json(tmp_path: Path, data: object, name: str = "test_videodatainfo.json") -> Path:
    return _write(tmp_path, name, json.dumps(data))


def _fixture_json() -> dict:
    return json.loads(MSRVTT_JSON.read_text(encoding="utf-8"))


# --- API ----------------------------------------------------------------------------------------


def test_api():
    assert {"ucf101", "msrvtt", "custom"} <= set(PROMPT_SETS)
    assert all(callable(loader) for loader in PROMPT_SETS.values())
    p = load_prompts("ucf101")[0]
    assert isinstance(p, Prompt)
    assert p == Prompt(id="ucf101/ApplyEyeMakeup", text=p.text, dataset="ucf101")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.text = "changed"  # type: ignore[misc]


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(ValueError, match=r"dataset must be one of \[.*'msrvtt'.*'ucf101'.*\]"):
        load_prompts("ucf-101")
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_prompts(["ucf101"])  # type: ignore[arg-type]


# --- ucf101 -------------------------------------------------------------------------------------


def test_ucf101_official_classes_in_classind_order():
    prompts = load_prompts("ucf101")
    assert len(UCF101_CLASSIND) == 101
    assert [p.id for p in prompts] == [f"ucf101/{c}" for c in UCF101_CLASSIND]
    assert {p.dataset for p in prompts} == {"ucf101"}


def test_ucf101_prompts_non_empty_unique_descriptive():
    texts = [p.text for p in load_prompts("ucf101")]
    assert len(set(texts)) == 101
    for text in texts:
        assert text == text.strip() and "\t" not in text and "\n" not in text
        assert 3 <= len(text.split()) <= 30  # a description, far under CLIP's 77 tokens
    assert load_prompts("ucf101")[0].text.startswith("a person applying eye makeup")


def test_ucf101_version_file_and_header():
    assert UCF101_PROMPTS_VERSION == "v1"
    name = f"ucf101_prompts_{UCF101_PROMPTS_VERSION}.txt"
    text = resources.files("freqlab.data").joinpath(name).read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert f"version {UCF101_PROMPTS_VERSION}" in header[0]
    assert any("How the prompts were written" in line for line in header)
    assert hashlib.sha256(text.encode()).hexdigest() == UCF101_V1_SHA256, (
        f"{name} changed: write a new version file and bump UCF101_PROMPTS_VERSION instead"
    )


def test_ucf101_replacement_file(tmp_path):
    lines = [f"{c}\tan illustration of {c}" for c in UCF101_CLASSIND]
    path = _write(tmp_path, "ucf_v2.txt", "# mine\n\n" + "\n".join(lines) + "\n")
    prompts = load_prompts("ucf101", path=path)
    assert prompts[-1] == Prompt("ucf101/YoYo", "an illustration of YoYo", "ucf101")

    swapped = _write(tmp_path, "swapped.txt", "\n".join([lines[1], lines[0], *lines[2:]]))
    with pytest.raises(ValueError, match=r"path=.*classInd.txt order"):
        load_prompts("ucf101", path=swapped)
    short = _write(tmp_path, "short.txt", "\n".join(lines[:-1]))
    with pytest.raises(ValueError, match=r"got 100 lines, missing \['ucf101/YoYo'\]"):
        load_prompts("ucf101", path=short)
    no_tab = _write(tmp_path, "no_tab.txt", "ApplyEyeMakeup a person applying makeup\n")
    with pytest.raises(ValueError, match=r"line 1: expected 'ClassName<TAB>prompt'"):
        load_prompts("ucf101", path=no_tab)


# --- msrvtt -------------------------------------------------------------------------------------


def test_msrvtt_json_only_test_split_in_official_range():
    prompts = load_prompts("msrvtt", path=MSRVTT_JSON)
    # the fixture also lists train (video0, video6512) and validate (video6513, video7009) videos
    assert [p.id for p in prompts] == sorted(MSRVTT_JSON_SEED0, key=lambda i: int(i[12:]))
    assert all(7010 <= int(p.id.removeprefix("msrvtt/video")) <= 9999 for p in prompts)
    assert {p.dataset for p in prompts} == {"msrvtt"}


def test_msrvtt_caption_choice_is_pinned_and_deterministic(tmp_path):
    prompts = load_prompts("msrvtt", path=str(MSRVTT_JSON))
    assert {p.id: p.text for p in prompts} == MSRVTT_JSON_SEED0
    # Independent of the order of the file's videos and sentences.
    data = _fixture_json()
    random.Random(0).shuffle(data["videos"])
    random.Random(1).shuffle(data["sentences"])
    assert load_prompts("msrvtt", path=_write_json(tmp_path, data)) == prompts
    # Each caption is one of the video's, and other seeds pick other captions.
    captions: dict[str, set[str]] = {}
    for s in _fixture_json()["sentences"]:
        captions.setdefault(f"msrvtt/{s['video_id']}", set()).add(s["caption"])
    picks = {p.id: {p.text} for p in prompts}
    for seed in range(1, 20):
        for p in load_prompts("msrvtt", path=MSRVTT_JSON, caption_seed=seed):
            assert p.text in captions[p.id]
            picks[p.id].add(p.text)
    assert picks["msrvtt/video8000"] == captions["msrvtt/video8000"]


def test_msrvtt_csv_1ka():
    prompts = load_prompts("msrvtt", path=MSRVTT_CSV)
    assert [(p.id, p.text) for p in prompts] == [
        ("msrvtt/video7020", "a woman creating a fondant baby and flower"),
        ("msrvtt/video7606", "a man, a woman and a dog walk on the beach"),  # quoted comma
        ("msrvtt/video9770", "a person is connecting something to a computer"),
        ("msrvtt/video9771", "a band performs on stage in front of a crowd"),
    ]
    assert load_prompts("msrvtt", path=MSRVTT_CSV, caption_seed=5) == prompts  # one caption each


def test_msrvtt_format_detected_from_content(tmp_path):
    as_txt = _write(tmp_path, "annotations.txt", MSRVTT_JSON.read_text(encoding="utf-8"))
    assert load_prompts("msrvtt", path=as_txt) == load_prompts("msrvtt", path=MSRVTT_JSON)
    bom_csv = tmp_path / "bom.csv"
    bom_csv.write_bytes(b"\xef\xbb\xbf" + MSRVTT_CSV.read_bytes())
    assert load_prompts("msrvtt", path=bom_csv) == load_prompts("msrvtt", path=MSRVTT_CSV)


def test_msrvtt_path_required_and_must_exist(tmp_path):
    with pytest.raises(
        ValueError, match=r"path is required.*test_videodatainfo\.json.*microsoft\.com"
    ):
        load_prompts("msrvtt")
    missing = tmp_path / "test_videodatainfo.json"
    with pytest.raises(FileNotFoundError, match=r"path=.*no such file.*test_videodatainfo\.json"):
        load_prompts("msrvtt", path=missing)
    with pytest.raises(FileNotFoundError, match="MSRVTT_JSFUSION_test.csv"):
        load_prompts("msrvtt", path=tmp_path)  # a directory


def _json_with(**changes: object) -> dict:
    data = _fixture_json()
    data.update(changes)
    return data


def _bad_video(**fields: object) -> dict:
    data = _fixture_json()
    data["videos"][0].update(fields)
    return data


def _bad_sentence(**fields: object) -> dict:
    data = _fixture_json()
    data["sentences"][0].update(fields)
    return data


def _without_captions_of(video_id: str) -> dict:
    data = _fixture_json()
    data["sentences"] = [s for s in data["sentences"] if s["video_id"] != video_id]
    return data


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([1, 2], r"expected a JSON object with 'videos' and 'sentences' lists"),
        (_json_with(sentences={}), r"'videos' and 'sentences' lists"),
        (_bad_video(video_id="clip0"), r"videos\[0\]: video_id must look like 'video7010'"),
        (_bad_video(split=None), r"videos\[0\] must be an object with 'video_id' and 'split'"),
        (_bad_video(video_id="video42", split="test"), r"video42 has split 'test' but"),
        (_bad_sentence(sen_id="7"), r"sentences\[0\]: sen_id must be an int"),
        (_bad_sentence(caption="  "), r"sentences\[0\]: caption must be a non-empty string"),
        (_bad_sentence(sen_id=1040), r"sen_id 1040 is used twice"),
        (_without_captions_of("video8000"), r"test videos without captions: \['video8000'\]"),
        (
            _json_with(videos=[v for v in _fixture_json()["videos"] if v["split"] != "test"]),
            r"no videos with split 'test'.*train_val_videodatainfo",
        ),
    ],
)
def test_msrvtt_malformed_json(tmp_path, data, match):
    with pytest.raises(ValueError, match=rf"path=.*{match}"):
        load_prompts("msrvtt", path=_write_json(tmp_path, data))


def test_msrvtt_duplicate_test_video(tmp_path):
    data = _fixture_json()
    data["videos"].append(dict(data["videos"][-1]))
    with pytest.raises(ValueError, match=r"video7011 is listed twice"):
        load_prompts("msrvtt", path=_write_json(tmp_path, data))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"not a JSON object, and not a CSV with the columns key,vid_key,video_id,sentence"),
        ("video_id,caption\nvideo7010,a cat\n", r"not a CSV with the columns"),
        ('{"videos": [', r"invalid JSON"),
        ("key,vid_key,video_id,sentence\n", r"header but no rows"),
        ("key,vid_key,video_id,sentence\nret0,msr1,video1,a, b\n", r"line 2: expected 4 fields"),
        ("key,vid_key,video_id,sentence\nret0,msr1,v1,a cat\n", r"line 2: video_id must look"),
        ("key,vid_key,video_id,sentence\nret0,msr1,video1,\n", r"line 2: caption must be"),
    ],
)
def test_msrvtt_malformed_csv(tmp_path, text, match):
    with pytest.raises(ValueError, match=rf"path=.*{match}"):
        load_prompts("msrvtt", path=_write(tmp_path, "MSRVTT_JSFUSION_test.csv", text))


def test_msrvtt_not_utf8(tmp_path):
    path = tmp_path / "test_videodatainfo.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match=r"path=.*not UTF-8"):
        load_prompts("msrvtt", path=path)


# --- shapes -------------------------------------------------------------------------------------


def test_shapes_prompts_are_held_out_captions():
    prompts = load_prompts("shapes")
    texts = [p.text for p in prompts]
    assert len(texts) == 48 == len(set(texts))
    assert not set(texts) & set(split_captions("train"))
    assert len(load_prompts("shapes", limit=8)) == 8


# --- custom -------------------------------------------------------------------------------------


def test_custom_file(tmp_path):
    path = _write(
        tmp_path,
        "prompts.txt",
        "# my prompts\n\na red circle moving left\n   \n  # indented comment\n"
        "a blue square moving up  \nissue #12: a cat\n",
    )
    assert load_prompts("custom", path=path) == [
        Prompt("custom/0000", "a red circle moving left", "custom"),
        Prompt("custom/0001", "a blue square moving up", "custom"),
        Prompt("custom/0002", "issue #12: a cat", "custom"),
    ]


def test_custom_errors(tmp_path):
    with pytest.raises(ValueError, match="path is required: a text file with one prompt per line"):
        load_prompts("custom")
    with pytest.raises(FileNotFoundError, match=r"path=.*nope\.txt: no such file"):
        load_prompts("custom", path=tmp_path / "nope.txt")
    with pytest.raises(ValueError, match=r"path=.* holds no prompts"):
        load_prompts("custom", path=_write(tmp_path, "empty.txt", "# nothing\n\n"))
    with pytest.raises(ValueError, match="path must be a str or os.PathLike"):
        load_prompts("custom", path=3)  # type: ignore[arg-type]


def test_path_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    _write(tmp_path, "p.txt", "a cat\n")
    assert load_prompts("custom", path="~/p.txt")[0].text == "a cat"


# --- limit and shards ---------------------------------------------------------------------------


def _custom_set(tmp_path: Path, n: int) -> Path:
    return _write(tmp_path, f"n{n}.txt", "".join(f"prompt {i}\n" for i in range(n)))


def test_limit_spreads_evenly_over_the_set(tmp_path):
    ids = [p.id for p in load_prompts("ucf101", limit=10)]
    assert ids == [f"ucf101/{UCF101_CLASSIND[i]}" for i in (0, 10, 20, 30, 40, 50, 60, 70, 80, 90)]
    assert "ucf101/ApplyLipstick" not in ids  # not the first ten (make-up classes)
    path = _custom_set(tmp_path, 10)
    texts = [p.text for p in load_prompts("custom", path=path, limit=4)]
    assert texts == ["prompt 0", "prompt 2", "prompt 5", "prompt 7"]  # i * 10 // 4
    assert [p.id for p in load_prompts("custom", path=path, limit=1)] == ["custom/0000"]
    everything = load_prompts("custom", path=path)
    assert load_prompts("custom", path=path, limit=10) == everything
    assert load_prompts("custom", path=path, limit=1000) == everything


@pytest.mark.parametrize("n", [1, 7, 101])
@pytest.mark.parametrize("limit", [None, 1, 5, 50])
@pytest.mark.parametrize("num_shards", [1, 3, 8])
def test_shards_are_disjoint_and_cover_the_limited_set(tmp_path, n, limit, num_shards):
    path = _custom_set(tmp_path, n)
    whole = load_prompts("custom", path=path, limit=limit)
    assert len(whole) == min(n, limit or n)
    shards = [
        load_prompts("custom", path=path, limit=limit, shard=s, num_shards=num_shards)
        for s in range(num_shards)
    ]
    ids = [p.id for shard in shards for p in shard]
    assert len(ids) == len(set(ids))  # disjoint
    assert sorted(ids) == sorted(p.id for p in whole)  # union is the limited set
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # balanced
    for shard in shards:  # each shard keeps set order
        assert [whole.index(p) for p in shard] == sorted(whole.index(p) for p in shard)


def test_shards_are_strided():
    whole = load_prompts("ucf101", limit=20)
    assert load_prompts("ucf101", limit=20, shard=1, num_shards=4) == whole[1::4]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limit": 0}, r"limit must be an int >= 1, got 0"),
        ({"limit": -3}, r"limit must be an int >= 1, got -3"),
        ({"limit": 2.5}, r"limit must be an int >= 1, got 2.5"),
        ({"limit": True}, r"limit must be an int >= 1, got True"),
        ({"num_shards": 0}, r"num_shards must be an int >= 1, got 0"),
        ({"num_shards": "2"}, r"num_shards must be an int >= 1, got '2'"),
        ({"shard": -1}, r"shard must be an int >= 0, got -1"),
        ({"shard": 2, "num_shards": 2}, r"shard must be < num_shards=2, got 2"),
        ({"shard": 1}, r"shard must be < num_shards=1, got 1"),
        ({"shard": 1.0, "num_shards": 2}, r"shard must be an int >= 0, got 1.0"),
        ({"caption_seed": "0"}, r"caption_seed must be an int, got '0'"),
    ],
)
def test_bad_selection_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_prompts("ucf101", **kwargs)


def test_a_limit_above_the_set_size_is_reported_once(caplog):
    import freqlab.data.prompts as prompts

    prompts._CAPPED.discard(("shapes", 1000, 48))
    with caplog.at_level("WARNING", logger="freqlab.data.prompts"):
        first = load_prompts("shapes", limit=1000)
        again = load_prompts("shapes", limit=1000)
    assert len(first) == len(again) == 48 == len(load_prompts("shapes"))
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["limit=1000 exceeds the 48 prompts of shapes: all 48 are used"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="freqlab.data.prompts"):
        load_prompts("shapes", limit=48)  # exactly the set: nothing to say
    assert caplog.records == []


def test_per_frame_prompts_in_a_custom_file(tmp_path):
    from freqlab.data.prompts import parse_keyframes

    assert parse_keyframes("a corgi running") is None
    assert parse_keyframes("0: a corgi on grass | 32: a corgi on snow") == {
        0: "a corgi on grass",
        32: "a corgi on snow",
    }
    assert parse_keyframes(" 0:a cat") == {0: "a cat"}
    path = tmp_path / "p.txt"
    path.write_text("a corgi\n0: a corgi | 16: a cat | 40: a dog\n")
    plain, keyed = load_prompts("custom", path=path)
    assert plain.keyframes is None and keyed.keyframes == {0: "a corgi", 16: "a cat", 40: "a dog"}
    # Other sets' captions are never read as keyframes.
    assert Prompt(id="msrvtt/video1", text="0: a cat", dataset="msrvtt").keyframes is None


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("16: a cat | 32: a dog", r"start at frame 0 and increase, got \[16\]"),
        ("0: a cat | 0: a dog", r"increase, got \[0, 0\]"),
        ("0: a cat | a dog", "must be '<frame>: <text>', got 'a dog'"),
        ("0: a cat | 8:", "must be '<frame>: <text>', got '8:'"),
    ],
)
def test_bad_per_frame_prompts_name_the_file(tmp_path, line, match):
    path = tmp_path / "p.txt"
    path.write_text(f"a corgi\n{line}\n")
    with pytest.raises(ValueError, match=f"^path={path}: per-frame prompt .*{match}"):
        load_prompts("custom", path=path)

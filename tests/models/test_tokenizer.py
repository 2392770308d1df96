from freqlab.models.tokenizer import byte_level_clip_tokenizer


def test_vocab_and_special_tokens():
    tok = byte_level_clip_tokenizer()
    assert len(tok) == 514
    assert tok.model_max_length == 77
    assert tok.bos_token_id == 512
    assert tok.eos_token_id == 513


def test_round_trip_any_text():
    # CLIP's pre-tokenizer lowercases, collapses whitespace and splits digits.
    tok = byte_level_clip_tokenizer()
    cases = {"a red square": "a red square", "Ünïcode ✓": "ünïcode ✓", "two  spaces": "two spaces"}
    for text, expected in cases.items():
        ids = tok(text).input_ids
        assert ids[0] == 512 and ids[-1] == 513
        assert tok.decode(ids, skip_special_tokens=True).strip() == expected


def test_padding_to_max_length():
    tok = byte_level_clip_tokenizer()
    batch = tok(["a", "a longer prompt"], padding="max_length", max_length=77, return_tensors="pt")
    assert batch.input_ids.shape == (2, 77)

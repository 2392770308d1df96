"""A tiny HunyuanVideo 1.5 text-to-video pipeline with seeded random weights, built fully offline.

:func:`tiny_hunyuanvideo15` builds diffusers' ``HunyuanVideo15Pipeline`` from the real component
classes at toy sizes, so FreeInit and the other sampler-level methods run through the same
pipeline code as the 8.3B model:

* ``text_encoder``: ``Qwen2_5_VLTextModel`` (3 layers, width 32, multimodal RoPE), with a byte-level
  BPE ``Qwen2Tokenizer`` built in code (:func:`byte_level_qwen2_tokenizer`);
* ``text_encoder_2``: a ByT5-style ``T5EncoderModel`` (glyph texts, the quoted parts of a prompt),
  with ``ByT5Tokenizer``, which needs no files;
* ``vae``: ``AutoencoderKLHunyuanVideo15`` with 3 blocks, so spatial /4 (the real VAE is /16) and
  the real temporal /4, 8 latent channels (real: 32);
* ``transformer``: ``HunyuanVideo15Transformer3DModel`` with one dual-stream block, patch size 1 as
  the real model;
* ``scheduler``: ``FlowMatchEulerDiscreteScheduler`` with the 480p t2v shift 5;
* ``guider``: ``ClassifierFreeGuidance`` with the t2v guidance scale 6 (the pipeline takes no
  ``guidance_scale`` argument).

Latents are ``(B, C, T, h, w)`` = ``(B, 8, (F - 1) // 4 + 1, H // 4, W // 4)`` for ``F`` frames of
``H x W`` pixels, e.g. ``(1, 8, 3, 8, 8)`` for 9 frames at 32 x 32.

Sizes: every component is tiny except one layer the transformer cannot shrink:
``HunyuanVideo15ByT5TextProjection`` has a hidden width fixed at 2048 in diffusers (not a config
value), so ``transformer.context_embedder_2`` alone holds ~4.3M parameters (a 2048 x 2048 linear).
Replacing it would break ``save_pretrained``/``from_pretrained`` round trips, so it is kept.

Sequence lengths are the pipeline's own and cannot be cut without changing it: the Qwen prompt is
padded to 1000 + 108 tokens (the first 108 are cropped), ByT5 to 256, and the transformer always
sees 729 (zeroed, masked) image tokens, so every transformer call attends over
``1000 + 256 + 729 + T*h*w`` tokens. The tiny widths keep that cheap.
"""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKLHunyuanVideo15,
    ClassifierFreeGuidance,
    FlowMatchEulerDiscreteScheduler,
    HunyuanVideo15Pipeline,
    HunyuanVideo15Transformer3DModel,
)
from tokenizers import AddedToken
from transformers import (
    ByT5Tokenizer,
    Qwen2_5_VLTextConfig,
    Qwen2_5_VLTextModel,
    Qwen2Tokenizer,
    T5Config,
    T5EncoderModel,
)

from freqlab.models.tokenizer import _bytes_to_unicode

# Qwen2's special tokens, after the 256 byte ids of the byte-level vocabulary.
QWEN_PAD_TOKEN = "<|endoftext|>"
QWEN_IM_START = "<|im_start|>"
QWEN_IM_END = "<|im_end|>"
QWEN_VOCAB_SIZE = 259

# The pipeline crops this many tokens off the chat-formatted prompt (HunyuanVideo15Pipeline's
# prompt_template_encode_start_idx): with the real Qwen2.5-VL tokenizer they are the system turn
# and the opening of the user turn, leaving the user's prompt first.
PROMPT_CROP_START = 108
# The tiny tokenizer has no merges, so one ASCII character is one token. The chat template gives
# the system message exactly this many characters (truncated or space-padded) so that the crop
# also removes exactly the system turn and "<|im_start|>user\n" here:
# 1 (<|im_start|>) + 7 ("system\n") + 92 + 1 (<|im_end|>) + 1 ("\n") + 1 (<|im_start|>) + 5
# ("user\n") = 108.
SYSTEM_MESSAGE_CHARS = 92

# ChatML, as Qwen2.5-VL's template renders a system + user conversation with
# add_generation_prompt=True, except that the system message is fitted to SYSTEM_MESSAGE_CHARS.
QWEN_CHAT_TEMPLATE = (
    # No whitespace control ("{%-"): it would also strip the template's own newlines.
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "<|im_start|>system\n{{ '%-92.92s' | format(message['content']) }}<|im_end|>\n"
    "{% else %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

QWEN_TEXT_CONFIG = dict(
    vocab_size=QWEN_VOCAB_SIZE,
    hidden_size=32,
    intermediate_size=64,
    # The pipeline takes hidden_states[-3] (it skips the last 2 layers, as with the 28-layer 7B
    # model): 3 layers leave one layer's output in the prompt embedding.
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    # Multimodal RoPE as Qwen2.5-VL: the sections split head_dim / 2 = 4 rotary pairs over
    # (time, height, width); text positions are equal on all three.
    rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 1, 1]},
    pad_token_id=256,
    bos_token_id=256,
    eos_token_id=258,
    # No KV cache: the pipeline runs one forward pass per prompt.
    use_cache=False,
)
# ByT5 (google/byt5-small layout: byte ids after pad/eos/unk, 125 extra ids, gated GELU).
BYT5_CONFIG = dict(
    vocab_size=384,
    d_model=32,
    d_kv=8,
    d_ff=48,
    num_layers=1,
    num_heads=4,
    relative_attention_num_buckets=8,
    feed_forward_proj="gated-gelu",
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
)
HUNYUAN15_VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=8,
    # Blocks 0 and 1 downsample by 2 in space and time (log2 of the /4 ratios), block 2 keeps the
    # size; the last width is a multiple of 2 x latent_channels (the encoder's channel shortcut).
    block_out_channels=(8, 16, 16),
    layers_per_block=1,
    spatial_compression_ratio=4,
    temporal_compression_ratio=4,
)
HUNYUAN15_TRANSFORMER_CONFIG = dict(
    # Noisy latents, the (zero for t2v) condition latents and a one-channel mask, stacked.
    in_channels=2 * HUNYUAN15_VAE_CONFIG["latent_channels"] + 1,
    out_channels=HUNYUAN15_VAE_CONFIG["latent_channels"],
    num_attention_heads=2,
    attention_head_dim=16,
    num_layers=1,
    num_refiner_layers=1,
    mlp_ratio=2.0,
    patch_size=1,
    patch_size_t=1,
    text_embed_dim=QWEN_TEXT_CONFIG["hidden_size"],
    text_embed_2_dim=BYT5_CONFIG["d_model"],
    # The pipeline feeds 729 zero image tokens of this width in t2v.
    image_embed_dim=8,
    # RoPE widths over (time, height, width); they sum to attention_head_dim.
    rope_axes_dim=(4, 6, 6),
    # Pixel size the pipeline picks height/width from when both are None: 32 gives tiny buckets
    # (the real 480p model uses 640).
    target_size=32,
    task_type="t2v",
)
# diffusers' conversion script (scripts/convert_hunyuan_video1_5_to_diffusers.py): 480p t2v
# scheduler shift 5.0 and guider guidance_scale 6.0.
HUNYUAN15_SHIFT = 5.0
HUNYUAN15_GUIDANCE_SCALE = 6.0


def byte_level_qwen2_tokenizer() -> Qwen2Tokenizer:
    """A Qwen2 byte-level BPE tokenizer with no merges: any text encodes offline.

    Ids 0-255 are the bytes (GPT-2's printable byte alphabet), 256 ``<|endoftext|>`` (padding),
    257 ``<|im_start|>``, 258 ``<|im_end|>``. Padding is on the right, as in HunyuanVideo 1.5's
    tokenizer, because the pipeline crops the prompt's first 108 tokens. The chat template
    (:data:`QWEN_CHAT_TEMPLATE`) makes those 108 tokens exactly the system turn and
    ``<|im_start|>user\\n``, as the real tokenizer does.
    """
    vocab = {c: i for i, c in enumerate(_bytes_to_unicode())}
    vocab.update({QWEN_PAD_TOKEN: 256, QWEN_IM_START: 257, QWEN_IM_END: 258})
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=QWEN_PAD_TOKEN,
        eos_token=QWEN_IM_END,
        pad_token=QWEN_PAD_TOKEN,
        padding_side="right",
        model_max_length=1000 + PROMPT_CROP_START,
    )
    # Whole-token matching for the chat markers (their ids are already in the vocabulary).
    tokenizer.add_tokens(
        [AddedToken(QWEN_IM_START, special=True), AddedToken(QWEN_IM_END, special=True)]
    )
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def tiny_hunyuanvideo15(seed: int = 0) -> HunyuanVideo15Pipeline:
    """A HunyuanVideo 1.5 480p-t2v-layout ``HunyuanVideo15Pipeline`` with seeded random weights.

    Each model comes from its own seed (``seed`` Qwen text model, ``seed + 1`` VAE, ``seed + 2``
    transformer, ``seed + 3`` ByT5 encoder), so equal seeds give equal weights. Latents are
    ``(B, 8, (F - 1) // 4 + 1, H // 4, W // 4)``; frames should be ``4k + 1`` and height/width
    multiples of 4.
    """
    torch.manual_seed(seed)
    # Inference mode: transformers models are built in training mode (T5's dropout is 0.1).
    text_encoder = Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(**QWEN_TEXT_CONFIG)).eval()
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLHunyuanVideo15(**HUNYUAN15_VAE_CONFIG).eval()
    torch.manual_seed(seed + 2)
    transformer = HunyuanVideo15Transformer3DModel(**HUNYUAN15_TRANSFORMER_CONFIG).eval()
    torch.manual_seed(seed + 3)
    text_encoder_2 = T5EncoderModel(T5Config(**BYT5_CONFIG)).eval()
    pipe = HunyuanVideo15Pipeline(
        text_encoder=text_encoder,
        tokenizer=byte_level_qwen2_tokenizer(),
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=HUNYUAN15_SHIFT),
        text_encoder_2=text_encoder_2,
        tokenizer_2=ByT5Tokenizer(),
        guider=ClassifierFreeGuidance(guidance_scale=HUNYUAN15_GUIDANCE_SCALE),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe

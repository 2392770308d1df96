"""Prompt sets for the experiment runner (UCF-101, MSR-VTT, custom files); see
:mod:`freqlab.data.prompts` for the formats and the ``limit`` / sharding / caption rules.

Example::

    from freqlab.data import load_prompts

    prompts = load_prompts("ucf101", limit=20, shard=0, num_shards=4)   # 5 of 20 spread classes
    prompts = load_prompts("msrvtt", path="/data/msrvtt/test_videodatainfo.json")
    for p in prompts:
        print(p.id, p.text)   # "msrvtt/video7010" "a ..."
"""

from freqlab.data.prompts import PROMPT_SETS, UCF101_PROMPTS_VERSION, Prompt, load_prompts

__all__ = ["PROMPT_SETS", "UCF101_PROMPTS_VERSION", "Prompt", "load_prompts"]

"""Generate ``nanogpt_images/testing/sample_catalog.json``, the bundled sample catalog.

The sample imitates a real ``GET /api/v1/image-models?detailed=true`` body of
about 230 models (the live list had 232-234 in September 2026). It is built
from real model ids (docs, public probes of the live API) plus a few generated
provider/family/variant ids, and it carries every shape an SDK meets in the
wild: price keys written ``1024x1024`` or ``1024*1024``, tiers, aspect ratios,
``auto`` priced but not listed, prices by rendering speed or for LoRA add-ons,
bare-number or empty pricing, fixed image counts, image-input constraints,
the 2024-01-01 ``created`` sentinel, typed descriptors, conflicting
capability flags and unknown keys.  The three models observed in full
(``gpt-image-2``, ``bytedance/seedream-v5.0-pro``, ``birefnet/v2``) use their
real parameters and prices, read from ``tests/fixtures/real_endpoints``.

Deterministic (seeded, no network)::

    python benchmarks/make_sample_catalog.py            # rewrite the file
    python benchmarks/make_sample_catalog.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "nanogpt_images" / "testing" / "sample_catalog.json"
REAL_ENDPOINTS = ROOT / "tests" / "fixtures" / "real_endpoints"
SEED = 20260914
GENERATED_AT = "2026-09-14T00:00:00.000Z"
TARGET_COUNT = 232
SENTINEL_CREATED = 1704067200  # 2024-01-01, stamped on models with no known added date
SENTINEL_COUNT = 80

# Listed first, in the order the live API listed them on 2026-09-13.
NEWEST_IDS = [
    "birefnet/v2",
    "sam3-image",
    "nvidia/cosmos-3-super/text-to-image",
    "bernini-r/edit-image",
    "boogu-image",
    "boogu-image/edit",
    "openai/gpt-image-2.5/flare/text-to-image",
    "openai/gpt-image-2.5/flare/edit",
]


def _words(text: str) -> list[str]:
    return text.split()


# Ids seen live (public probes of /v1/images/generations, July 2026, and the fact sheet).
REAL_IDS = _words("""
step-image-edit-2 hidream-i1-fast Cropper proteus fal-ai/krea-2/turbo auto-image-selection
pruna-ai/p-image/upscale rev-animated prunaai:1@1 Upscaler fluently-xl
pruna-ai/p-image/text-to-image minimax-image-01 boltning dreamshaper-xl dreamshaper-v1
fast-sdxl cyberrealistic-pony-v9
stoiqo-new-reality atomix-xl pixelwave miusmius-xl 2dn-pony-v2 crystal-clear-xlightning
aniflatmix-anime pruna-ai/p-image/text-to-image-lora animagine-xl-31 infinite-illustrious
hassaku-hentai stable-diffusion-xl-turbo nsfw-gen-illustrious wai-illustrious-sdxl
artiwaifu-diffusion cyberrealistic-xl realpony-xl crystal-clear-xl custom-civitai
aniflatmix-anime-sfwnsfw persona:376130@2456367 reve-2-remix-fast z-image-turbo-image-to-image
reve-2-edit-fast juggernaut-lightning-flux pruna-ai/p-image/edit flux-schnell
pruna-ai/p-image/edit-lora cogview-4 seedvr2-image SDXL-ArliMix-v1
microsoft/mai-image-2.5/text-to-image wavespeed-ai/flux-2-klein-base-9b/text-to-image
flux-2-klein-9b wavespeed-ai/flux-2-klein-base-4b/text-to-image flux-lightning flux-2-klein-4b
z-image-turbo runware:107@1 flux-2-flash wavespeed-ai/krea-v2-medium-turbo/text-to-image
wavespeed-ai/flux-2-klein-base-4b/edit ernie-image
wavespeed-ai/flux-2-klein-base-4b/text-to-image-lora hidream ernie-image/turbo
wavespeed-ai/flux-2-klein-base-9b/edit flux-2-turbo z-image-turbo-lora juggernaut-pro-flux
sd3_base_medium.safetensors wavespeed-ai/flux-2-klein-base-9b/text-to-image-lora
hidream-o1-image-dev gpt-image-1-mini z-image-base playground-v25 qwen-image gemini-flash-edit
wavespeed-ai/flux-2-klein-base-4b/edit-lora flux-2-dev-image-to-image flux-2-dev
wavespeed-ai/flux-2-klein-base-9b/edit-lora reve-2-create flux-2-flash-image-to-image
grok-imagine-image qwen-image-2512 juggernaut-z chroma qwen-image-2.0 glm-image
ideogram/v4/fast krea/v2/medium/text-to-image riverflow-2-fast lucid-origin wan2.7-image
gpt-4o-image vidu-q2 wavespeed-ai/krea-v2-medium/text-to-image flux-2-dev-lora longcat-image
runware:106@1 longcat-image-edit seedream-v5.0-lite-sequential flux-2-turbo-image-to-image
riverflow-2-standard wan-2.6-image-edit nano-banana-edit seedream-v4 hidream-o1-image
ideogram/v4/instant nano-banana-2-lite nano-banana seedream-v4.5 reve-2-edit reve-2-remix
reve-text-to-image seedream-4.5-alternative reve-image-to-image bria-fibo bria-fibo-edit
vidu-q2-reference seedream-v4.5-sequential recraft-v3 seedream-v3 flux-kontext seedream-v5.0-lite
recraft-v4 flux-pro/v1.1 flux-2-flex flux-2-flex-image-to-image
recraft-ai/recraft-v4.1/text-to-image recraft-ai/recraft-v4.1/text-to-image-utility
clarity-ai-crystal-upscaler clarity-ai-creative-upscaler nano-banana-2-fast
imagineart/imagineart-2.0-edit-preview/image-to-image flux-2-dev-lora-image-to-image flux-2-pro
flux-2-pro-image-to-image flux-2-max flux-2-max-image-to-image background-remover
imagen-3.0-generate-002 flux-dev-image-to-image kling-image-o1 flux-pro/v1/vto
microsoft/mai-image-2.5/edit flux-lora/inpainting ideogram-v3-turbo flux-lora
krea/v2/large/text-to-image ideogram:4@0 wavespeed-ai/krea-v2-large/text-to-image
ideogram-v3-generate-transparent xai/grok-imagine-image/quality/text-to-image hidream-e1-1
gpt-image-2 ghiblify imagen-4-ultra dall-e-3 flux-pro/v1.1-ultra qwen-image-2.0-pro
stable-diffusion-v35-large/turbo qwen-image-max-edit qwen-image-2.0-pro-2026-03-03 qwen-image-max
xai/grok-imagine-image/quality/edit qwen-image-3 flux-pro wan2.7-image-pro riverflow-2-max
ideogram-ai/ideogram-v2-turbo bytedance/seedream-v5.0-pro/edit ideogram-v3-remove-text
luma/agent/uni-1/v1 recraft-ai/recraft-v4.1/text-to-vector ideogram-v3-quality nano-banana-2
flux-realism bytedance/seedream-v5.0-pro fal-ai/sensenova-u1-infographic
gpt-image-1 gpt-image-1.5 nano-banana-pro nano-banana-pro-ultra midjourney/text-to-image
higgsfield-soul
""")

# Observed charges for a 1024x1024-class image (USD), July 2026.
OBSERVED_PRICES = {
    "pruna-ai/p-image/text-to-image": 0.005,
    "SDXL-ArliMix-v1": 0.0085,
    "microsoft/mai-image-2.5/text-to-image": 0.005,
    "flux-lightning": 0.0102,
    "ernie-image": 0.010486,
    "ernie-image/turbo": 0.010486,
    "grok-imagine-image": 0.02,
    "ideogram/v4/fast": 0.010499,
    "seedream-v4": 0.03,
    "ideogram/v4/instant": 0.0075,
    "nano-banana-2-lite": 0.04,
    "nano-banana": 0.039,
    "seedream-v4.5": 0.04,
    "seedream-4.5-alternative": 0.04,
    "seedream-v4.5-sequential": 0.04,
    "seedream-v3": 0.04,
    "flux-kontext": 0.04,
    "seedream-v5.0-lite": 0.035,
    "recraft-v4": 0.04,
    "flux-pro/v1.1": 0.04,
    "recraft-ai/recraft-v4.1/text-to-image": 0.04,
    "recraft-ai/recraft-v4.1/text-to-image-utility": 0.04,
    "nano-banana-2-fast": 0.045,
    "kling-image-o1": 0.051,
    "ideogram-v3-turbo": 0.051,
    "flux-lora": 0.0595,
    "boogu-image": 0.041943,
    "ideogram-v3-generate-transparent": 0.06,
    "xai/grok-imagine-image/quality/text-to-image": 0.06,
    "imagen-4-ultra": 0.06,
    "flux-pro/v1.1-ultra": 0.06,
    "stable-diffusion-v35-large/turbo": 0.0255,
    "flux-pro": 0.068,
    "recraft-ai/recraft-v4.1/text-to-vector": 0.08,
    "ideogram-v3-quality": 0.09,
    "nano-banana-2": 0.08,
    "flux-realism": 0.0901,
}

# (pattern, owned_by, icon file, display name of the owner)
OWNERS: list[tuple[str, str, str, str]] = [
    (r"^(openai/|gpt-|dall-e)", "openai", "OpenAI.svg", "OpenAI"),
    (r"^(nano-banana|imagen|gemini|google/)", "google", "Google.svg", "Google"),
    (r"(seedream|^bytedance/)", "bytedance", "ByteDance.svg", "ByteDance"),
    (r"^(qwen|wan|z-image)", "alibaba", "Alibaba.svg", "Alibaba"),
    (r"^ideogram", "ideogram", "Ideogram.svg", "Ideogram"),
    (r"^recraft", "recraft", "Recraft.svg", "Recraft"),
    (r"^hidream", "hidream", "HiDream.svg", "HiDream"),
    (r"^reve", "reve", "Reve.svg", "Reve"),
    (r"^(pruna-ai/|prunaai:)", "prunaai", "PrunaAI.svg", "Pruna AI"),
    (r"(krea)", "krea", "Krea.svg", "Krea"),
    (r"^(wavespeed-ai/flux|flux|black-forest-labs/)", "bfl", "BFL.svg", "BFL"),
    (r"(hunyuan|^tencent/)", "tencent", "Tencent.svg", "Tencent"),
    (r"^midjourney", "midjourney", "Midjourney.svg", "Midjourney"),
    (r"^higgsfield", "higgsfield", "Higgsfield.svg", "Higgsfield"),
    (r"^kling", "kuaishou", "Kling.svg", "Kuaishou"),
    (r"^vidu", "shengshu", "Vidu.svg", "ShengShu"),
    (r"^minimax", "minimax", "MiniMax.svg", "MiniMax"),
    (r"^(xai/|grok)", "xai", "xAI.svg", "xAI"),
    (r"^microsoft/", "microsoft", "Microsoft.svg", "Microsoft"),
    (r"^nvidia/", "nvidia", "NVIDIA.svg", "NVIDIA"),
    (r"^luma/", "luma", "Luma.svg", "Luma"),
    (r"^ernie", "baidu", "Baidu.svg", "Baidu"),
    (r"^(cogview|glm)", "zhipu", "Zhipu.svg", "Zhipu AI"),
    (r"^step", "stepfun", "StepFun.svg", "StepFun"),
    (r"^longcat", "meituan", "Meituan.svg", "Meituan"),
    (r"^bria", "bria", "Bria.svg", "Bria"),
    (r"^riverflow", "sourceful", "Sourceful.svg", "Sourceful"),
    (r"^lucid", "leonardo", "Leonardo.svg", "Leonardo.Ai"),
    (r"^clarity", "clarity-ai", "ClarityAI.svg", "Clarity AI"),
    (r"^imagineart", "imagineart", "ImagineArt.svg", "ImagineArt"),
    (r"^chroma", "lodestones", "Chroma.svg", "Lodestones"),
    (r"^(stable-diffusion|sd3|playground)", "stability", "Stability.svg", "Stability AI"),
    (r"^(sam3|birefnet|bernini|boogu|fal-ai/|seedvr|background-remover)", "fal", "Fal.svg", "Fal"),
    (r"^(runware:|persona:|ideogram:|civitai:|rundiffusion:)", "runware", "Runware.svg", "Runware"),
    (
        r"^(auto-image|Cropper|Upscaler|custom-civitai|ghiblify)",
        "nanogpt",
        "NanoGPT.svg",
        "NanoGPT",
    ),
]
COMMUNITY = ("civitai", "Civitai.svg", "Civitai community")

# Generated ids: provider/family/variant, plausible but not observed.
GENERATED_FAMILIES = [
    ("fal-ai", ["aura-flow", "sana-sprint", "lumina-image-v2", "hunyuan-image-v3", "omnigen-v2"]),
    ("black-forest-labs", ["flux-2-pro", "flux-2-flex", "flux-kontext-max"]),
    ("google", ["imagen-4", "imagen-4-fast", "nano-banana-pro"]),
    ("bytedance", ["seedream-v4.5", "seedream-v5.0-lite", "dreamina-v3.1"]),
    ("wavespeed-ai", ["hunyuan-image-3", "qwen-image-edit-plus", "wan-2.7-image"]),
    ("recraft-ai", ["recraft-v4.1", "recraft-v3"]),
    ("tencent", ["hunyuan-image-3.0", "hunyuan-image-2.1"]),
]
GENERATED_VARIANTS = ["text-to-image", "edit", "turbo", "fast", "ultra", "lora", "image-to-image"]
GENERATED_AIR = ["runware:100@1", "runware:101@1", "civitai:4201@130072", "civitai:101055@128078"]

ROUTE_CONSTRAINTS = {
    "min_width": 8,
    "min_height": 8,
    "max_width": 16384,
    "max_height": 16384,
    "max_bytes": 31457280,
    "formats": ["png", "jpeg", "webp"],
    "source": "route-preflight",
    "note": "NanoGPT route-level validation before provider submission.",
}

SIZES_BFL = ["1024x1024", "1024x768", "768x1024", "1344x768", "768x1344"]
SIZES_SDXL = ["1024x1024", "832x1216", "1216x832", "896x1152", "1152x896"]
SIZES_OPENAI = ["1024x1024", "1536x1024", "1024x1536"]
SIZES_RECRAFT = ["1024x1024", "1365x1024", "1024x1365", "1536x1024", "1024x1536", "1820x1024"]
SIZES_STAR = ["1024x1024", "1376x768", "768x1376", "1184x896"]
SIZES_FAL = [
    "square_hd",
    "square",
    "portrait_4_3",
    "portrait_16_9",
    "landscape_4_3",
    "landscape_16_9",
]
ASPECTS = ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9"]
TIERS = ["1k", "2k", "4k"]

# Exact counts an SDK has been seen to handle (nanoodle audit, July 2026).
FIXED_IMAGE_COUNT = {
    "midjourney/text-to-image": 4,
    "higgsfield-soul": 4,
    "flux-pro": 1,
    "flux-pro/v1.1": 1,
    "flux-pro/v1.1-ultra": 1,
    "flux-kontext": 1,
    "flux-pro/v1/vto": 1,
    "dall-e-3": 1,
    "imagen-3.0-generate-002": 1,
    "imagen-4-ultra": 1,
    "recraft-v3": 1,
    "recraft-v4": 1,
    "ghiblify": 1,
    "background-remover": 1,
}
RENDERING_SPEED = {"ideogram-v3-generate-transparent", "ideogram/v4/fast"}
BARE_NUMBER_PRICE = {
    "Cropper": 0.005,
    "Upscaler": 0.01,
    "background-remover": 0.008,
    "seedvr2-image": 0.02,
}
CURRENCY_ONLY_PRICE = {"auto-image-selection", "custom-civitai", "luma/agent/uni-1/v1"}
PARTIAL_PRICE = {"hidream", "cogview-4", "playground-v25"}  # some listed sizes have no price
STAR_PRICE_KEYS = re.compile(r"^(pruna-ai/|wavespeed-ai/|wan)")
MODEL_LABELS = {
    "flux-2-pro": "FLUX.2 [pro]",
    "nano-banana-2": "Nano Banana 2",
    "qwen-image-3": "New",
}
EXTRA_CAPABILITIES = {
    "Upscaler": {"upscaling": True},
    "clarity-ai-crystal-upscaler": {"upscaling": True},
    "clarity-ai-creative-upscaler": {"upscaling": True},
    "background-remover": {"background_removal": True},
    "birefnet/v2": {"background_removal": True},
    "recraft-ai/recraft-v4.1/text-to-vector": {"vector_output": True},
}
NEW_API_FIELDS = set(NEWEST_IDS) | {"gpt-image-2", "bytedance/seedream-v5.0-pro"}

REAL_ENDPOINT_FILES = {
    "gpt-image-2": "gpt-image-2.json",
    "birefnet/v2": "birefnet-v2.json",
    "bytedance/seedream-v5.0-pro": "bytedance-seedream-v5.0-pro.json",
}


def main() -> int:
    """Write the sample (or, with ``--check``, compare it with the file on disk)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args()
    text = render(build_catalog())
    if args.check:
        if OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is out of date; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(text.encode())} bytes)")
    return 0


def build_catalog() -> dict[str, Any]:
    """The whole body, deterministic for a given SEED."""
    rng = random.Random(SEED)
    ids = _model_ids(rng)
    sentinel = set(rng.sample([i for i in ids if i not in _KNOWN_CREATED], SENTINEL_COUNT))
    models = [_model(rng, model_id, model_id in sentinel) for model_id in ids]
    return {
        "object": "list",
        "data": models,
        "meta": {"count": len(models), "generated_at": GENERATED_AT},
    }


def render(catalog: dict[str, Any]) -> str:
    """Compact JSON with one model per line, so diffs stay readable."""
    lines = [_dumps(model) for model in catalog["data"]]
    return (
        '{"object":"list","data":[\n'
        + ",\n".join(lines)
        + '\n],"meta":'
        + _dumps(catalog["meta"])
        + "}\n"
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_KNOWN_CREATED = {
    "pruna-ai/p-image/text-to-image": 1778544000,  # docs example
    "flux-pro": 1706745600,  # docs example, Jan 2026 version
}


def _model_ids(rng: random.Random) -> list[str]:
    ids: list[str] = []
    for model_id in [*NEWEST_IDS, *REAL_IDS]:
        if model_id not in ids:
            ids.append(model_id)
    candidates = [
        f"{p}/{f}/{v}"
        for p, families in GENERATED_FAMILIES
        for f in families
        for v in GENERATED_VARIANTS
    ]
    candidates += GENERATED_AIR
    rng.shuffle(candidates)
    for model_id in candidates:
        if len(ids) >= TARGET_COUNT:
            break
        if model_id not in ids:
            ids.append(model_id)
    return ids


def _kind(model_id: str) -> str:
    """``utility`` (needs an image, fixed output), ``edit`` or ``t2i``."""
    lowered = model_id.lower()
    if re.search(r"upscal|cropper|background-remover|birefnet|sam3|seedvr|remove-text", lowered):
        return "utility"
    if re.search(r"edit|image-to-image|remix|kontext|vto|inpaint|reference|ghiblify", lowered):
        return "edit"
    return "t2i"


def _owner(model_id: str) -> tuple[str, str, str]:
    for pattern, owned_by, icon, display in OWNERS:
        if re.search(pattern, model_id):
            return owned_by, icon, display
    return COMMUNITY


def _model(rng: random.Random, model_id: str, sentinel: bool) -> dict[str, Any]:
    kind = _kind(model_id)
    owned_by, icon, owner_name = _owner(model_id)
    real = _real_endpoint(model_id)
    resolutions, pricing = _resolutions_and_pricing(rng, model_id, kind, owned_by)
    params = _supported_parameters(rng, model_id, kind, resolutions)
    accepts_images = "max_input_images" in params or kind != "t2i"
    capabilities: dict[str, Any] = {
        "image_generation": True,
        "image_to_image": accepts_images,
        "inpainting": "inpaint" in model_id or (kind == "edit" and rng.random() < 0.2),
        "nsfw": owned_by in {"civitai", "runware"} or rng.random() < 0.15,
    }
    if real is not None:
        params = real["supported_parameters"]
        pricing = _pricing_from_lines(real["pricing"])
        capabilities = dict(real["capabilities"])
    capabilities.update(EXTRA_CAPABILITIES.get(model_id, {}))
    _add_conflicts(model_id, params, capabilities)

    modality = {"t2i": "text->image", "edit": "text+image->image", "utility": "image->image"}[kind]
    if kind == "t2i" and "max_input_images" in params:
        modality = "text+image->image"
    if model_id in {"Upscaler", "flux-dev-image-to-image", "flux-lora/inpainting"}:
        modality = "text->image"  # the live flags said so, although an input image is required
    inputs = {"text->image": ["text"], "image->image": ["image"]}.get(modality, ["text", "image"])

    name = _display_name(model_id)
    created = SENTINEL_CREATED if sentinel else _KNOWN_CREATED.get(model_id, _random_created(rng))
    model: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": owned_by,
        "name": name,
        "description": _description(rng, name, kind, owner_name),
        "architecture": {
            "modality": modality,
            "input_modalities": inputs,
            "output_modalities": ["image"],
        },
        "pricing": pricing,
        "capabilities": capabilities,
        "supported_parameters": params,
        "icon_url": f"/icons/{icon}",
        "tags": _tags(model_id, kind, owned_by),
        "category": "image",
    }
    if rng.random() < 0.04:  # optional keys really are optional
        del model["icon_url"]
    if rng.random() < 0.04:
        del model["tags"]
    if model_id in MODEL_LABELS:
        model["label"] = MODEL_LABELS[model_id]
    if model_id in NEW_API_FIELDS:
        model["supports_streaming"] = False
        model["endpoints"] = f"/api/v1/images/models/{model_id}/endpoints"
    return model


def _real_endpoint(model_id: str) -> dict[str, Any] | None:
    name = REAL_ENDPOINT_FILES.get(model_id)
    if name is None:
        return None
    body = json.loads((REAL_ENDPOINTS / name).read_text(encoding="utf-8"))
    endpoint: dict[str, Any] = body["endpoints"][0]
    return endpoint


def _pricing_from_lines(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Endpoint pricing lines -> the catalog's ``{per_image: {...}, currency}`` map."""
    per_image = {line["resolution"]: line["cost_usd"] for line in lines}
    return {"per_image": per_image, "currency": lines[0].get("currency", "USD")}


def _resolutions_and_pricing(
    rng: random.Random, model_id: str, kind: str, owned_by: str
) -> tuple[list[str], dict[str, Any]]:
    base = OBSERVED_PRICES.get(model_id) or _random_price(rng, owned_by, kind)
    auto_priced = False
    if kind == "utility":
        if re.search(r"upscal", model_id.lower()) and model_id != "Upscaler":
            resolutions = ["2x", "4x"]
            prices = {"2x": base, "4x": _round(base * 2)}
        else:
            resolutions = ["auto"]
            prices = {"auto": base}
    elif model_id == "nano-banana-2-lite":
        resolutions, prices = ["1k"], {"1k": base, "auto": base}  # as observed
    elif owned_by == "openai":
        resolutions = (
            ["1024x1024", "1024x1792", "1792x1024"] if "dall-e" in model_id else SIZES_OPENAI
        )
        prices = _scaled(rng, resolutions, base)
        auto_priced = True
    elif (owned_by == "google" and "imagen" in model_id) or owned_by in {"ideogram", "midjourney"}:
        resolutions = ASPECTS[: rng.randint(5, 8)]
        prices = dict.fromkeys(resolutions, base)
    elif owned_by in {"google", "higgsfield"}:
        resolutions = TIERS if "pro" in model_id or "2" in model_id else TIERS[:2]
        prices = {t: _round(base * m) for t, m in zip(resolutions, (1.0, 1.5, 2.0), strict=False)}
        auto_priced = True
    elif owned_by == "bytedance":
        resolutions = [*ASPECTS[:7], "1k", "2k"]
        prices = {**dict.fromkeys(ASPECTS[:7], base), "1k": _round(base / 2), "2k": base}
        auto_priced = True
    elif owned_by in {"fal", "lodestones"} or model_id in {
        "flux-lora",
        "flux-realism",
        "fast-sdxl",
    }:
        resolutions = SIZES_FAL
        prices = dict.fromkeys(SIZES_FAL, base)
    elif owned_by == "recraft":
        resolutions = SIZES_RECRAFT
        prices = dict.fromkeys(SIZES_RECRAFT, base)
    elif STAR_PRICE_KEYS.search(model_id):
        resolutions = SIZES_STAR[: rng.randint(2, 4)]
        prices = {r.replace("x", "*"): base for r in resolutions}
    elif owned_by in {"civitai", "runware", "stability"}:
        resolutions = SIZES_SDXL
        prices = dict.fromkeys(SIZES_SDXL, base)
    else:
        resolutions = SIZES_BFL[: rng.randint(3, 5)]
        prices = _scaled(rng, resolutions, base)
    if auto_priced:
        prices["auto"] = prices[resolutions[0]]
    if model_id in PARTIAL_PRICE:
        prices = {resolutions[0]: prices[resolutions[0]]}

    pricing: dict[str, Any] = {"per_image": prices, "currency": "USD"}
    if model_id in BARE_NUMBER_PRICE:
        pricing = {"per_image": BARE_NUMBER_PRICE[model_id], "currency": "USD"}
    elif model_id in CURRENCY_ONLY_PRICE:
        pricing = {"currency": "USD"}
    elif model_id in RENDERING_SPEED:
        speeds = {"TURBO": 0.6, "BALANCED": 1.0, "QUALITY": 1.5}
        pricing = {
            "per_image": prices,
            "by_rendering_speed": {
                speed: {r: _round(p * factor) for r, p in prices.items()}
                for speed, factor in speeds.items()
            },
            "currency": "USD",
        }
    elif "lora" in model_id:
        lora: Any = _round(base * 0.25) if rng.random() < 0.4 else dict.fromkeys(prices, 0.01)
        pricing["lora"] = {"per_image": lora}
    return resolutions, pricing


def _supported_parameters(
    rng: random.Random, model_id: str, kind: str, resolutions: list[str]
) -> dict[str, Any]:
    fixed = FIXED_IMAGE_COUNT.get(model_id)
    if kind == "utility" or fixed == 1:
        max_images = 1
    elif fixed is not None:
        max_images = fixed
    else:
        max_images = rng.choice([1, 2, 4, 4, 4, 4, 6, 8])
    params: dict[str, Any] = {"resolutions": list(resolutions), "max_images": max_images}
    if rng.random() < 0.75 or kind != "t2i":
        params["max_output_images"] = max_images
    if fixed is not None:
        params["fixed_image_count"] = fixed
    if model_id in RENDERING_SPEED:
        params["rendering_speed"] = ["TURBO", "BALANCED", "QUALITY"]

    takes_references = kind != "t2i" or rng.random() < 0.3
    if takes_references:
        max_inputs = 1 if kind == "utility" else rng.choice([1, 2, 4, 4, 6, 8, 10, 14, 16])
        if model_id == "flux-pro/v1/vto":
            max_inputs = 2
        params["max_input_images"] = max_inputs
        if rng.random() < 0.95 or model_id == "flux-pro/v1/vto":
            params["input_image_constraints"] = _constraints(rng, model_id, max_inputs)
    _add_typed_descriptors(model_id, params)
    return params


def _constraints(rng: random.Random, model_id: str, max_items: int) -> dict[str, Any]:
    constraints: dict[str, Any] = {"max_items": max_items, "route": dict(ROUTE_CONSTRAINTS)}
    if model_id == "flux-pro/v1/vto":
        constraints["provider"] = {
            "max_bytes": 10485760,
            "source": "provider-docs",
            "note": "Needs exactly two images, in order: the person, then the garment.",
        }
    elif rng.random() < 0.3:
        mib = rng.choice([4, 5, 10, 10, 20])
        constraints["provider"] = {
            "max_bytes": mib * 1048576,
            "source": "provider-docs",
            "note": f"Provider model metadata states max input image size: {mib}MB.",
        }
    return constraints


def _add_typed_descriptors(model_id: str, params: dict[str, Any]) -> None:
    """The typed shapes documented for /api/v1/images/models, on a handful of models."""
    if model_id.startswith("openai/gpt-image-2.5/"):
        params["quality"] = {
            "type": "enum",
            "values": ["low", "medium", "high", "xhigh", "max"],
            "default": "high",
        }
        params["n"] = {"type": "range", "min": 1, "max": 4, "default": 1}
        params["output_format"] = {"type": "enum", "values": ["png", "jpeg", "webp"]}
        if model_id.endswith("/edit"):
            params["input_references"] = {"type": "range", "min": 0, "max": 16}
    elif model_id in {"boogu-image", "boogu-image/edit"}:
        # Typed descriptors only: no flat ``resolutions``/``max_images``.
        for key in ("resolutions", "max_images", "max_output_images"):
            params.pop(key, None)
        params["resolution"] = {"type": "enum", "values": ["1k", "2k", "4k"], "default": "1k"}
        params["n"] = {"type": "range", "min": 1, "max": 4, "default": 1}
    elif model_id in {"nvidia/cosmos-3-super/text-to-image", "sam3-image"}:
        params["seed"] = {"type": "boolean"}
    elif model_id == "gpt-image-1.5":
        params["quality"] = {
            "type": "enum",
            "values": ["low", "medium", "high"],
            "default": "medium",
        }


def _add_conflicts(model_id: str, params: dict[str, Any], capabilities: dict[str, Any]) -> None:
    """Flags that contradict the parameters, as seen live."""
    if model_id == "nano-banana-pro-ultra":
        params["max_input_images"] = 10
        capabilities["image_to_image"] = False
    if model_id in {"Upscaler", "flux-dev-image-to-image", "flux-lora/inpainting"}:
        capabilities["image_to_image"] = False


def _scaled(rng: random.Random, resolutions: list[str], base: float) -> dict[str, float]:
    prices = {resolutions[0]: base}
    for resolution in resolutions[1:]:
        prices[resolution] = _round(base * rng.choice([0.8, 0.9, 1.0, 1.0, 1.2, 1.5]))
    return prices


def _random_price(rng: random.Random, owned_by: str, kind: str) -> float:
    if owned_by in {"civitai", "runware"}:
        return _round(rng.uniform(0.003, 0.012))
    if kind == "utility":
        return _round(rng.uniform(0.005, 0.03))
    return _round(rng.uniform(0.01, 0.12))


def _random_created(rng: random.Random) -> int:
    return rng.randrange(1709251200, 1789516800, 3600)  # 2024-03-01 .. 2026-09-16


def _round(value: float) -> float:
    return round(value, 5)


_TOKENS = {
    "gpt": "GPT",
    "xl": "XL",
    "sdxl": "SDXL",
    "flux": "FLUX",
    "ai": "AI",
    "sd3": "SD3",
    "o1": "O1",
    "i1": "I1",
    "e1": "E1",
    "vto": "VTO",
    "sam3": "SAM 3",
    "4o": "4o",
}


_ORG_PREFIXES = {
    "openai",
    "nvidia",
    "fal-ai",
    "wavespeed-ai",
    "pruna-ai",
    "bytedance",
    "microsoft",
    "xai",
    "recraft-ai",
    "luma",
    "imagineart",
    "ideogram-ai",
    "black-forest-labs",
    "google",
    "tencent",
}


def _display_name(model_id: str) -> str:
    segments = [s for s in model_id.split("/") if s != "text-to-image"]
    if len(segments) > 1 and segments[0] in _ORG_PREFIXES:
        segments = segments[1:]
    tokens = [t for t in re.split(r"[/\-_:@]+", "/".join(segments)) if t]
    words = [_TOKENS.get(t.lower(), t if t[:1].isdigit() else t.title()) for t in tokens]
    return " ".join(words)


_DESCRIPTIONS = {
    "t2i": [
        "{name} turns a text prompt into an image{extra}.",
        "Text-to-image model by {owner}{extra}. Strong prompt adherence and clean typography.",
        "{owner}'s {name}: fast, detailed text-to-image generation{extra}.",
    ],
    "edit": [
        "Edit or restyle images with a text instruction{extra}.",
        "{name} by {owner}: image editing from one or more reference images{extra}.",
    ],
    "utility": [
        "Image utility by {owner}; needs an input image{extra}.",
        "{name}: one input image in, one processed image out.",
    ],
}
_EXTRAS = [
    "",
    "",
    " with photorealistic detail",
    ", tuned for illustration and anime styles",
    ", good at product shots and posters",
    " at a low price per image",
    ", suited to quick drafts",
]


_SECOND_SENTENCES = [
    "",
    " Good default for everyday prompts.",
    " Handles long, detailed prompts and readable text inside the image.",
    " Consistent characters and lighting across a batch.",
    " Billed per output image; see pricing for sizes.",
    " Community fine-tune; results vary with the prompt style.",
    " Keeps the composition of the input while changing what you ask for.",
]


def _description(rng: random.Random, name: str, kind: str, owner: str) -> str:
    template = rng.choice(_DESCRIPTIONS[kind])
    first = template.format(name=name, owner=owner, extra=rng.choice(_EXTRAS))
    return first + rng.choice(_SECOND_SENTENCES)


def _tags(model_id: str, kind: str, owned_by: str) -> list[str]:
    tags = [{"t2i": "text-to-image", "edit": "image-editing", "utility": "image-utility"}[kind]]
    tags.append(owned_by)
    if model_id.startswith("wavespeed-ai/") or STAR_PRICE_KEYS.search(model_id):
        tags.append("wavespeed")
    if "lora" in model_id:
        tags.append("lora")
    return tags


if __name__ == "__main__":
    raise SystemExit(main())

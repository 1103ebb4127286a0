"""The endpoints command, check --input-image and --route images, against FakeNanoGPT."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from images import gif, png

from nanogpt_images.testing import FakeNanoGPT, catalog_payload, model_payload

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Run


async def test_endpoints_shows_provider_prices_and_limits(fake: FakeNanoGPT, run: Run) -> None:
    """Provider, one price per resolution (auto included) and the input-image limits."""
    code, out, _ = await run("endpoints", "gpt-image-2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "gpt-image-2  provider: Openai (openai)"
    assert "  auto       $0.06551 an image" in lines
    assert (
        "input images: up to 4; route: png, jpeg, webp, width 8-16384 px, "
        "height 8-16384 px, at most 30 MiB" in lines
    )
    assert any(line.startswith("  note (route-preflight): NanoGPT route-level") for line in lines)
    assert fake.requests[-1].path == "/api/v1/images/models/gpt-image-2/endpoints"


async def test_endpoints_json_is_the_body_as_served(fake: FakeNanoGPT, run: Run) -> None:
    """--json prints the details exactly as the server sent them."""
    code, out, _ = await run("endpoints", "birefnet/v2", "--json")
    assert code == 0
    assert json.loads(out) == fake.endpoints_of("birefnet/v2")


async def test_endpoints_of_an_unknown_model_fails_with_suggestions(
    fake: FakeNanoGPT, run: Run
) -> None:
    """An unknown id exits 1 with close ids."""
    code, _, err = await run("endpoints", "gpt-image-9")
    assert code == 1
    assert "no image model with id 'gpt-image-9'; did you mean" in err


async def test_odd_price_lines_and_no_limits_are_shown_plainly(fake: FakeNanoGPT, run: Run) -> None:
    """A line in another currency is shown as sent; a model without limits says so."""
    fake.set_endpoints(
        "hidream",
        {
            "id": "hidream",
            "endpoints": [
                {
                    "provider_name": "X",
                    "pricing": [{"cost_usd": 2, "currency": "EUR", "unit": "mp"}],
                }
            ],
        },
    )
    code, out, _ = await run("endpoints", "hidream")
    assert code == 0
    assert "  -  2 EUR per mp" in out.splitlines()
    assert "input images: no limits listed (the model may not take any)" in out


async def test_check_with_fitting_images_passes(
    fake: FakeNanoGPT, run: Run, tmp_path: Path
) -> None:
    """Images within every limit: exit 0, each one described."""
    image = tmp_path / "cat.png"
    image.write_bytes(png(1024, 768))
    code, out, _ = await run("check", "gpt-image-2", "--input-image", str(image))
    assert code == 0
    assert "input images (1) within the model's limits:" in out
    assert f"  {image}: PNG, 1024x768 px, {len(png(1024, 768))} bytes" in out


async def test_check_lists_every_image_problem(fake: FakeNanoGPT, run: Run, tmp_path: Path) -> None:
    """A GIF and a tiny PNG: exit 1 and one line per problem on stderr."""
    (tmp_path / "a.gif").write_bytes(gif(64, 64))
    (tmp_path / "b.png").write_bytes(png(2, 2))
    code, _, err = await run(
        "check",
        "gpt-image-2",
        "--input-image",
        str(tmp_path / "a.gif"),
        "--input-image",
        str(tmp_path / "b.png"),
    )
    assert code == 1
    assert "input image 1 is GIF; `gpt-image-2` takes png, jpeg, webp" in err
    assert "input image 2 is 2 px wide; `gpt-image-2` needs at least 8 px" in err


async def test_check_with_a_missing_file_is_a_usage_error(
    fake: FakeNanoGPT, run: Run, tmp_path: Path
) -> None:
    """A file that cannot be read exits 2 naming it, before any request."""
    fake.clear_requests()
    code, _, err = await run("check", "gpt-image-2", "--input-image", str(tmp_path / "no.png"))
    assert code == 2
    assert f"cannot read the input image {tmp_path / 'no.png'}" in err
    assert fake.request_count == 0


async def test_route_images_prices_models_from_their_details(run: Run) -> None:
    """--route images lists the Image API catalog and filters by endpoint prices."""
    models = [
        model_payload("cheap", pricing={"per_image": 0.01, "currency": "USD"}),
        model_payload("dear", pricing={"per_image": 0.5, "currency": "USD"}),
    ]
    async with FakeNanoGPT(catalog_payload(models)) as server:
        code, out, err = await run(
            "--base-url", server.url, "--route", "images", "models", "--max-price", "0.02"
        )
        paths = [request.path for request in server.requests]
    assert code == 0
    assert out.splitlines()[1].startswith("cheap")
    assert "$0.01" in out
    assert "1 of 2 models" in err
    assert paths[0] == "/api/v1/images/models"
    assert sorted(paths[1:]) == [
        "/api/v1/images/models/cheap/endpoints",
        "/api/v1/images/models/dear/endpoints",
    ]


async def test_check_holds_images_to_the_generation_routes_4_mb(
    fake: FakeNanoGPT, run: Run, tmp_path: Path
) -> None:
    """An 8 MB PNG is within gpt-image-2's 30 MiB but not the route's 4 MB: exit 1."""
    image = tmp_path / "big.png"
    image.write_bytes(png(1024, 1024, payload=8 * 2**20))
    code, _, err = await run("check", "gpt-image-2", "--input-image", str(image))
    assert code == 1
    assert "input image 1 is 8.0 MiB" in err
    assert "the generation route takes at most 4194304 bytes (4 MiB) an image" in err

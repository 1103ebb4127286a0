"""pytest fixtures for nanogpt_images (being written)."""

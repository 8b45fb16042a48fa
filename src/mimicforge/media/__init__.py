"""Images and videos from rendered frames: PNG encodings per modality, MP4/GIF previews, shaded segmentation, and
Cosmos Transfer inputs (prompts from TOML, the blueprint server client, augmented videos back into a dataset)."""

"""Images and videos from rendered frames: PNG encodings per modality, MP4/GIF previews."""

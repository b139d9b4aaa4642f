"""ID-LoRA Studio: a desktop studio for identity-driven talking video on LTX-2."""

__version__ = "0.1.0"

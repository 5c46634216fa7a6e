"""The JSON Schemas mockllm validates with, shipped as package data (see mockllm.schemas_loader)."""

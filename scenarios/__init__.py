"""The built-in scenarios of mockllm, shipped as package data."""

"""Package made by pdd: build output, do not edit."""

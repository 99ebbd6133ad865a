"""Response primitives: what a playbook step can do, each with typed parameters and metadata."""

"""Fine-grained access control with arkos: orders that only managers may complete or change once completed."""

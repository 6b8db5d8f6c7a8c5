"""Schema-wide work above every concept: the model registry, migrations, reseal, grants."""

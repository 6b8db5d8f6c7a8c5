"""Fixed test keys (never used outside tests)."""

import base64

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(32, 64))).decode()
HMAC_KEY = base64.b64encode(b"h" * 32).decode()

"""The child helpline (116 111): contacts, cases, referrals onwards."""

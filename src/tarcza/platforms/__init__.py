"""Partner platforms report in through the CyberTipline Reporting API's shape (``/ispws``)."""

// live mode

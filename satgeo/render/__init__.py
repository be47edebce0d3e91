"""The render engine: area -> tile plan -> masks -> generation -> seamless blend -> COG."""

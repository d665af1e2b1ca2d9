"""`catsdogs prepare`: get the data from a real source, validate every image, write manifests."""

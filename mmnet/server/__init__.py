"""The master server: a bundle's master behind the TF Serving REST predict API (``mmnet serve``)."""

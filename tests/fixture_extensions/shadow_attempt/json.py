raise RuntimeError("the extension's json.py must never be imported as json")

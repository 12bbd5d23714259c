MARKER = "the extension's own os module"

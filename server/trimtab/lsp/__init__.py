"""The language server: `trimtab lsp`."""

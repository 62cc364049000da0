// Implementation pending (issue 2).

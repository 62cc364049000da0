// Tests pending (issue 2).

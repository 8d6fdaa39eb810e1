package mysql

import "strings"

// applyAlter replays the column changes of an ALTER TABLE statement on old,
// the schema held just before it, so the schema history is exact at the
// statement's binlog position even when the server's current schema has
// moved on (several DDLs ahead, DESIGN.md "Schema history"). It knows
// ADD [COLUMN] c … [FIRST | AFTER x], DROP [COLUMN] c, and specs that
// touch no column (indexes, constraints, ALGORITHM, LOCK, COMMENT, ENGINE);
// an added column's type comes from known (the columns seen, today's
// schema included), else it maps as text. Anything else (MODIFY, CHANGE,
// RENAME, a primary key change, a column list) returns false: the caller
// falls back to the current schema.
func applyAlter(q, defaultDB string, old *tableSchema, known map[string]column) (*tableSchema, bool) {
	s := skipSpaceAndComments(q)
	for _, kw := range []string{"ALTER", "ONLINE", "IGNORE", "TABLE"} {
		rest, ok := keyword(s, kw)
		if !ok && (kw == "ALTER" || kw == "TABLE") {
			return nil, false
		}
		if ok {
			s = rest
		}
	}
	if rest, ok := keyword(s, "IF"); ok { // IF EXISTS
		if rest, ok = keyword(rest, "EXISTS"); !ok {
			return nil, false
		}
		s = rest
	}
	db, name := defaultDB, ""
	first, rest, ok := identifier(s)
	if !ok {
		return nil, false
	}
	if strings.HasPrefix(rest, ".") {
		second, rest2, ok := identifier(rest[1:])
		if !ok {
			return nil, false
		}
		db, name, rest = first, second, rest2
	} else {
		name = first
	}
	if !strings.EqualFold(db, old.DB) || !strings.EqualFold(name, old.Name) {
		return nil, false
	}
	cols := append([]column(nil), old.Cols...)
	keyNames := make([]string, len(old.Key))
	for i, k := range old.Key {
		keyNames[i] = old.Cols[k].Name
	}
	index := func(n string) int {
		for i, c := range cols {
			if strings.EqualFold(c.Name, n) {
				return i
			}
		}
		return -1
	}
	for _, spec := range splitSpecs(rest) {
		toks := tokens(spec)
		if len(toks) == 0 {
			continue
		}
		head := strings.ToUpper(toks[0])
		if i := strings.IndexByte(head, '='); i >= 0 {
			head = head[:i]
		}
		switch head {
		case "ALGORITHM", "LOCK", "COMMENT", "ENGINE", "WAIT", "NOWAIT":
			continue
		case "ADD":
			toks = toks[1:]
			if len(toks) > 0 && strings.EqualFold(toks[0], "COLUMN") {
				toks = toks[1:]
			}
			ifNotExists := false
			if len(toks) > 2 && strings.EqualFold(toks[0], "IF") && strings.EqualFold(toks[1], "NOT") && strings.EqualFold(toks[2], "EXISTS") {
				toks, ifNotExists = toks[3:], true
			}
			if len(toks) < 2 {
				return nil, false
			}
			switch strings.ToUpper(toks[0]) {
			case "INDEX", "KEY", "CONSTRAINT", "UNIQUE", "FOREIGN", "FULLTEXT", "SPATIAL", "CHECK":
				continue
			case "PRIMARY", "PARTITION", "PERIOD", "SYSTEM":
				return nil, false
			}
			if strings.HasPrefix(toks[0], "(") {
				return nil, false
			}
			n, ok := unquote(toks[0])
			if !ok {
				return nil, false
			}
			if index(n) >= 0 {
				if ifNotExists {
					continue
				}
				return nil, false
			}
			c, ok := known[n]
			if !ok {
				c = column{Name: n, Kind: kOther}
			}
			at := len(cols)
			last := strings.ToUpper(toks[len(toks)-1])
			if last == "FIRST" {
				at = 0
			} else if len(toks) >= 3 && strings.EqualFold(toks[len(toks)-2], "AFTER") {
				after, ok := unquote(toks[len(toks)-1])
				if !ok || index(after) < 0 {
					return nil, false
				}
				at = index(after) + 1
			}
			cols = append(cols[:at], append([]column{c}, cols[at:]...)...)
		case "DROP":
			toks = toks[1:]
			if len(toks) > 0 && strings.EqualFold(toks[0], "COLUMN") {
				toks = toks[1:]
			}
			ifExists := false
			if len(toks) > 1 && strings.EqualFold(toks[0], "IF") && strings.EqualFold(toks[1], "EXISTS") {
				toks, ifExists = toks[2:], true
			}
			if len(toks) == 0 {
				return nil, false
			}
			switch strings.ToUpper(toks[0]) {
			case "INDEX", "KEY", "CONSTRAINT", "CHECK", "FOREIGN":
				continue
			case "PRIMARY", "PARTITION", "PERIOD", "SYSTEM":
				return nil, false
			}
			n, ok := unquote(toks[0])
			if !ok || len(toks) > 2 || (len(toks) == 2 && !strings.EqualFold(toks[1], "CASCADE") && !strings.EqualFold(toks[1], "RESTRICT")) {
				return nil, false
			}
			i := index(n)
			if i < 0 {
				if ifExists {
					continue
				}
				return nil, false
			}
			for _, k := range keyNames {
				if strings.EqualFold(k, n) {
					return nil, false // the key changes
				}
			}
			cols = append(cols[:i], cols[i+1:]...)
		default:
			return nil, false
		}
	}
	out := &tableSchema{DB: old.DB, Name: old.Name, Cols: cols}
	for _, k := range keyNames {
		i := index(k)
		if i < 0 {
			return nil, false
		}
		out.Key = append(out.Key, i)
	}
	return out, true
}

// keyword consumes the word kw (case-insensitive, whole word) at the start
// of s, and the space and comments after it.
func keyword(s, kw string) (string, bool) {
	if len(s) < len(kw) || !strings.EqualFold(s[:len(kw)], kw) {
		return s, false
	}
	if len(s) > len(kw) && isIdentByte(s[len(kw)]) {
		return s, false
	}
	return skipSpaceAndComments(s[len(kw):]), true
}

func isIdentByte(b byte) bool {
	return b == '_' || b == '$' || b >= 0x80 || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// splitSpecs splits an ALTER's specification list at the commas outside
// parentheses, quotes and comments.
func splitSpecs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"', '`':
			i = skipQuoted(s, i)
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		case '/':
			if strings.HasPrefix(s[i:], "/*") {
				if end := strings.Index(s[i+2:], "*/"); end >= 0 {
					i += 2 + end + 1
				} else {
					i = len(s)
				}
			}
		}
	}
	out = append(out, s[start:])
	return out
}

// skipQuoted returns the index of the quote closing the one at s[i] (a
// doubled quote or, outside backquotes, a backslash escapes).
func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j
		}
	}
	return len(s) - 1
}

// tokens splits one spec into words: quoted strings and parenthesized
// groups are one token each; comments and `;` are dropped.
func tokens(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';':
			i++
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += 2 + end + 2
		case c == '\'' || c == '"' || c == '`':
			j := skipQuoted(s, i)
			out = append(out, s[i:j+1])
			i = j + 1
		case c == '(':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '\'' || s[j] == '"' || s[j] == '`' {
					j = skipQuoted(s, j)
					continue
				}
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			out = append(out, s[i:min(j+1, len(s))])
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n;('\"`", rune(s[j])) && !strings.HasPrefix(s[j:], "/*") {
				j++
			}
			if j == i { // a lone byte such as '=' or ','
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out
}

// unquote reads a column name token: `quoted` or bare.
func unquote(tok string) (string, bool) {
	if strings.HasPrefix(tok, "`") {
		id, rest, ok := identifier(tok)
		return id, ok && rest == ""
	}
	for i := 0; i < len(tok); i++ {
		if !isIdentByte(tok[i]) {
			return "", false
		}
	}
	return tok, tok != ""
}

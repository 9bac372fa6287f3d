package boxevents

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The events page decoder. A page is read whole (it is bounded, see Config.MaxBodyBytes) and
// decoded in one pass that validates the JSON and picks out the fields an Event has, so that no
// value is scanned twice and nothing is decoded through reflection. Every string of a page
// (decoded text, lenient scalars, compacted raw JSON) is appended to one arena, which becomes one
// string at the end: a page costs a handful of allocations however many events it holds, and
// nothing decoded refers to the body, whose buffer is reused for the next page.

// maxDepth bounds the nesting of a page: deeper JSON is refused rather than recursed into.
const maxDepth = 512

// span locates a decoded string in the page's arena.
type span struct{ start, end int }

// userSpans are a user's fields in the arena.
type userSpans [nUserFields]span

// Indexes of a user's fields.
const (
	uType = iota
	uID
	uName
	uLogin
	nUserFields
)

// Indexes of an event's string fields.
const (
	fType = iota
	fEventID
	fEventType
	fCreatedAt
	fRecordedAt
	fSessionID
	fIPAddress
	fSourceJSON
	fAdditionalDetails
	fEventJSON
	nEventFields
)

// Indexes of a source's string fields.
const (
	sType = iota
	sID
	sName
	sLogin
	sItemType
	sItemID
	sItemName
	sFileID
	sFileName
	sFolderID
	sFolderName
	sGroupID
	sGroupName
	sUserID
	sUserName
	sUserEmail
	sPath
	sSize
	sSHA1
	sSharedLinkAccess
	sRole
	sAPIKey
	nSourceFields
)

// eventSpans are an event's fields in the arena, until the arena becomes a string.
type eventSpans struct {
	str                           [nEventFields]span
	createdBy, actionBy, accessBy userSpans
	source                        [nSourceFields]span
	parent, ownedBy               userSpans
}

// parser walks JSON text, validating it as it goes, and appends decoded text to an arena.
type parser struct {
	b     []byte
	i     int
	depth int
	arena []byte
	// keepJSON keeps each event's whole text (Config.KeepEventJSON).
	keepJSON bool
}

// syntaxError is malformed JSON, worded like encoding/json's.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string { return e.msg }

func (p *parser) errInvalid(context string) error {
	if p.i >= len(p.b) {
		return io.ErrUnexpectedEOF
	}
	return &syntaxError{msg: "invalid character " + quoteChar(p.b[p.i]) + " " + context, offset: p.i}
}

// quoteChar formats c the way encoding/json's syntax errors do.
func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c < 0x20 || c >= 0x7f:
		return strconv.Quote(string(rune(c)))
	}
	return "'" + string(rune(c)) + "'"
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// kind returns the kind of the value at p.i (after white space): '{', '[', '"', 'n' for null,
// 't' for a boolean, '0' for a number, or 0 at the end of the input.
func (p *parser) kind() byte {
	p.ws()
	if p.i >= len(p.b) {
		return 0
	}
	switch c := p.b[p.i]; c {
	case '{', '[', '"', 'n':
		return c
	case 't', 'f':
		return 't'
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return '0'
	}
	return 1
}

// skip validates and skips the value at p.i.
func (p *parser) skip() error {
	switch p.kind() {
	case '{':
		more, err := p.openObject()
		for ; more && err == nil; more, err = p.nextMember() {
			if _, err = p.memberKey(); err != nil {
				break
			}
			if err = p.skip(); err != nil {
				break
			}
		}
		return err
	case '[':
		more, err := p.openArray()
		for ; more && err == nil; more, err = p.nextElement() {
			if err = p.skip(); err != nil {
				break
			}
		}
		return err
	case '"':
		_, err := p.str()
		return err
	case 'n':
		return p.literal("null")
	case 't':
		if p.b[p.i] == 't' {
			return p.literal("true")
		}
		return p.literal("false")
	case '0':
		_, err := p.number()
		return err
	case 0:
		return io.ErrUnexpectedEOF
	}
	return p.errInvalid("looking for beginning of value")
}

// literal validates null, true or false at p.i.
func (p *parser) literal(word string) error {
	for k := 0; k < len(word); k++ {
		if p.i >= len(p.b) {
			return io.ErrUnexpectedEOF
		}
		if p.b[p.i] != word[k] {
			return p.errInvalid("in literal " + word + " (expecting " + quoteChar(word[k]) + ")")
		}
		p.i++
	}
	return nil
}

// number validates a number at p.i (RFC 8259 grammar) and returns its text.
func (p *parser) number() ([]byte, error) {
	start := p.i
	b := p.b
	if p.i < len(b) && b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i >= len(b):
		return nil, io.ErrUnexpectedEOF
	case b[p.i] == '0':
		p.i++
	case b[p.i] >= '1' && b[p.i] <= '9':
		for p.i < len(b) && b[p.i] >= '0' && b[p.i] <= '9' {
			p.i++
		}
	default:
		return nil, p.errInvalid("in numeric literal")
	}
	if p.i < len(b) && b[p.i] == '.' {
		p.i++
		if err := p.digits(); err != nil {
			return nil, err
		}
	}
	if p.i < len(b) && (b[p.i] == 'e' || b[p.i] == 'E') {
		p.i++
		if p.i < len(b) && (b[p.i] == '+' || b[p.i] == '-') {
			p.i++
		}
		if err := p.digits(); err != nil {
			return nil, err
		}
	}
	return b[start:p.i], nil
}

// digits validates one or more digits at p.i.
func (p *parser) digits() error {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == start {
		if p.i >= len(p.b) {
			return io.ErrUnexpectedEOF
		}
		return p.errInvalid("in numeric literal")
	}
	return nil
}

// strSpan is a string value in the input: the bounds of its content, without the quotes, and
// whether that content can be used as it is (no escapes, valid UTF-8).
type strSpan struct {
	start, end int
	plain      bool
}

// quoted returns the string with its quotes, for decodeString.
func (s strSpan) quoted(b []byte) []byte { return b[s.start-1 : s.end+1] }

// str validates the string at p.i.
func (p *parser) str() (strSpan, error) {
	b := p.b
	i := p.i + 1 // after the opening quote
	s := strSpan{start: i, plain: true}
	var high byte // the bytes' high bits: only non-ASCII text needs a UTF-8 check
	for {
		i = plainEnd(b, i)
		if i >= len(b) {
			p.i = i
			return strSpan{}, io.ErrUnexpectedEOF
		}
		c := b[i]
		switch {
		case c == '"':
			s.end = i
			p.i = i + 1
			if s.plain && high >= 0x80 && !utf8.Valid(b[s.start:s.end]) {
				s.plain = false
			}
			return s, nil
		case c == '\\':
			s.plain = false
			p.i = i + 1
			if err := p.escape(); err != nil {
				return strSpan{}, err
			}
			i = p.i
		case c < 0x20:
			p.i = i
			return strSpan{}, p.errInvalid("in string literal")
		default:
			high |= c
			i++
		}
	}
}

// escape validates the escape sequence at p.i, after its backslash.
func (p *parser) escape() error {
	b := p.b
	if p.i >= len(b) {
		return io.ErrUnexpectedEOF
	}
	switch b[p.i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		p.i++
	case 'u':
		p.i++
		for range 4 {
			if p.i >= len(b) {
				return io.ErrUnexpectedEOF
			}
			if !isHex(b[p.i]) {
				return p.errInvalid("in \\u hexadecimal character escape")
			}
			p.i++
		}
	default:
		return p.errInvalid("in string escape code")
	}
	return nil
}

// plainEnd returns the index of the first byte of b from i on that is not plain ASCII string
// content (see special8), found eight bytes at a time: most of a page is ASCII text without
// escapes. Within the last seven bytes of b it stops without looking; the caller goes on byte
// by byte.
func plainEnd(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := special8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	return i
}

// special8 marks the bytes of w (little endian) that are not plain string content: the high bit
// of each byte that ends a string, starts an escape, is a control character or is beyond ASCII.
// The lowest mark is exact; marks above it may be borrows of the classic "has a byte less than
// n" bit trick, which this applies to each condition.
func special8(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := w^(ones*'"'), w^(ones*'\\') // a zero byte where w has a quote, a backslash
	return (w | (w - ones*0x20) | (q-ones)&^q | (bs-ones)&^bs) & highs
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// Objects and arrays are walked without callbacks, which cost a call per member and kept the
// compiler from inlining the walk:
//
//	more, err := p.openObject()
//	for ; more && err == nil; more, err = p.nextMember() {
//		var key []byte
//		if key, err = p.memberKey(); err != nil {
//			break
//		}
//		err = ... // consume the value at p.i
//		if err != nil {
//			break
//		}
//	}
//	return err
//
// and arrays alike with openArray, nextElement and the element at p.i.

// openObject consumes the '{' at p.i and reports whether the object has a member (p.i is at its
// key) or was empty (consumed whole).
func (p *parser) openObject() (more bool, err error) {
	return p.open('}')
}

// openArray consumes the '[' at p.i and reports whether the array has an element (p.i is at
// it) or was empty (consumed whole).
func (p *parser) openArray() (more bool, err error) {
	return p.open(']')
}

func (p *parser) open(closing byte) (bool, error) {
	p.i++
	if p.depth++; p.depth > maxDepth {
		return false, &syntaxError{msg: "exceeded max depth", offset: p.i}
	}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == closing {
		p.i++
		p.depth--
		return false, nil
	}
	return true, nil
}

// memberKey reads a member's key (decoded) and its colon, leaving p.i at the value.
func (p *parser) memberKey() ([]byte, error) {
	// Most keys are plain and followed by their colon at once (compact JSON): one scan.
	b, i := p.b, p.i
	if i < len(b) && b[i] == '"' {
		if j := plainEnd(b, i+1); j+1 < len(b) && b[j] == '"' && b[j+1] == ':' {
			p.i = j + 2
			return b[i+1 : j], nil
		}
	}
	p.ws()
	if p.i >= len(p.b) {
		return nil, io.ErrUnexpectedEOF
	}
	if p.b[p.i] != '"' {
		return nil, p.errInvalid("looking for beginning of object key string")
	}
	key, err := p.key()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i >= len(p.b) {
		return nil, io.ErrUnexpectedEOF
	}
	if p.b[p.i] != ':' {
		return nil, p.errInvalid("after object key")
	}
	p.i++
	return key, nil
}

// nextMember consumes what follows a member's value: a comma (true: another member follows) or
// the closing brace (false: the object ended).
func (p *parser) nextMember() (more bool, err error) {
	return p.next('}', "after object key:value pair")
}

// nextElement consumes what follows an element: a comma (true: another element follows) or the
// closing bracket (false: the array ended).
func (p *parser) nextElement() (more bool, err error) {
	return p.next(']', "after array element")
}

// next consumes a comma (more) or closing, which ends the object or array. Anything else is an
// error "... after".
func (p *parser) next(closing byte, after string) (more bool, err error) {
	if p.i < len(p.b) && p.b[p.i] == ',' { // compact JSON: no white space to skip
		p.i++
		return true, nil
	}
	p.ws()
	if p.i >= len(p.b) {
		return false, io.ErrUnexpectedEOF
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		return true, nil
	case closing:
		p.i++
		p.depth--
		return false, nil
	}
	return false, p.errInvalid(after)
}

// object validates the object at p.i, calling member with each key (decoded) and p.i at its
// value, which member must consume. For the walks that are not hot.
func (p *parser) object(member func(key []byte) error) error {
	more, err := p.openObject()
	for ; more && err == nil; more, err = p.nextMember() {
		var key []byte
		if key, err = p.memberKey(); err != nil {
			break
		}
		if err = member(key); err != nil {
			break
		}
	}
	return err
}

// array validates the array at p.i, calling element with each index and p.i at the element,
// which element must consume. For the walks that are not hot.
func (p *parser) array(element func(i int) error) error {
	more, err := p.openArray()
	for n := 0; more && err == nil; more, err = p.nextElement() {
		if err = element(n); err != nil {
			break
		}
		n++
	}
	return err
}

// key reads the object key at p.i, decoded (memberKey has taken the plain ones already).
func (p *parser) key() ([]byte, error) {
	ks, err := p.str()
	if err != nil {
		return nil, err
	}
	if !ks.plain {
		return appendUnquoted(nil, ks.quoted(p.b)), nil
	}
	return p.b[ks.start:ks.end], nil
}

// decodeString decodes the quoted JSON string q (escapes, invalid UTF-8) exactly as
// encoding/json does; q was validated.
func decodeString(q []byte) string {
	return string(appendUnquoted(nil, q))
}

// appendUnquoted appends the content of the quoted JSON string q, which str validated, to dst,
// decoded exactly as encoding/json decodes it: escapes resolved, a \u escape of half a
// surrogate pair and every byte of invalid UTF-8 replaced by U+FFFD. FuzzAppendUnquoted checks
// it against encoding/json; going through encoding/json cost an allocation and a second
// validation per string.
func appendUnquoted(dst, q []byte) []byte {
	s := q[1 : len(q)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return dst // not valid JSON: str refused it already
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2:])
				if r < 0 {
					return dst
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2 := hex4AfterEscape(s[i:]); r2 >= 0 {
						if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
							dst = utf8.AppendRune(dst, pair)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default:
				return dst
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

// hex4 reads the four hex digits at the start of b as a rune; -1 when they are not there.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// hex4AfterEscape reads a \u escape at the start of b; -1 when there is none.
func hex4AfterEscape(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	return hex4(b[2:])
}

// text appends the lenient text of the value at p.i to the arena: a string's content, a
// number's or a boolean's literal text, nothing for null, objects and arrays.
func (p *parser) text() (span, error) {
	start := len(p.arena)
	switch p.kind() {
	case '"':
		ss, err := p.str()
		if err != nil {
			return span{}, err
		}
		if ss.plain {
			p.arena = append(p.arena, p.b[ss.start:ss.end]...)
		} else {
			p.arena = appendUnquoted(p.arena, ss.quoted(p.b))
		}
	case '0':
		num, err := p.number()
		if err != nil {
			return span{}, err
		}
		p.arena = append(p.arena, num...)
	case 't':
		word := "true"
		if p.b[p.i] == 'f' {
			word = "false"
		}
		if err := p.literal(word); err != nil {
			return span{}, err
		}
		p.arena = append(p.arena, word...)
	default:
		return span{}, p.skip()
	}
	return span{start, len(p.arena)}, nil
}

// compact validates the value at p.i and appends it to the arena as compact JSON (insignificant
// white space left out, as json.Compact does). null appends nothing.
func (p *parser) compact() (span, error) {
	if p.kind() == 'n' {
		return span{}, p.literal("null")
	}
	valStart := p.i
	if err := p.skip(); err != nil {
		return span{}, err
	}
	return p.appendCompact(p.b[valStart:p.i]), nil
}

// appendCompact appends the validated JSON text v to the arena as compact JSON: the runs between
// white space outside strings are copied whole (Box's JSON is compact already: one copy).
func (p *parser) appendCompact(v []byte) span {
	start, from := len(p.arena), 0 // from: the first byte not copied yet
	for k := 0; k < len(v); k++ {
		switch v[k] {
		case ' ', '\t', '\n', '\r':
			p.arena = append(p.arena, v[from:k]...)
			from = k + 1
		case '"':
			for k++; ; k++ { // validated: the string is closed
				k = plainEnd(v, k)
				if c := v[k]; c == '"' {
					break
				} else if c == '\\' {
					k++
				}
			}
		}
	}
	p.arena = append(p.arena, v[from:]...)
	return span{start, len(p.arena)}
}

// user reads the user object at p.i; anything else is skipped and gives no user.
func (p *parser) user() (userSpans, error) {
	var u userSpans
	if p.kind() != '{' {
		return u, p.skip()
	}
	more, err := p.openObject()
	for ; more && err == nil; more, err = p.nextMember() {
		var key []byte
		if key, err = p.memberKey(); err != nil {
			break
		}
		switch string(key) {
		case "type":
			u[uType], err = p.text()
		case "id":
			u[uID], err = p.text()
		case "name":
			u[uName], err = p.text()
		case "login":
			u[uLogin], err = p.text()
		default:
			err = p.skip()
		}
		if err != nil {
			break
		}
	}
	return u, err
}

// sourceField returns the field index of a source object's key, or -1.
func sourceField(key []byte) int {
	switch string(key) {
	case "type":
		return sType
	case "id":
		return sID
	case "name":
		return sName
	case "login":
		return sLogin
	case "item_type":
		return sItemType
	case "item_id":
		return sItemID
	case "item_name":
		return sItemName
	case "file_id":
		return sFileID
	case "file_name":
		return sFileName
	case "folder_id":
		return sFolderID
	case "folder_name":
		return sFolderName
	case "group_id":
		return sGroupID
	case "group_name":
		return sGroupName
	case "user_id":
		return sUserID
	case "user_name":
		return sUserName
	case "user_email":
		return sUserEmail
	case "size":
		return sSize
	case "sha1":
		return sSHA1
	case "role":
		return sRole
	case "api_key":
		return sAPIKey
	}
	return -1
}

// source reads the source at p.i into ev.
func (p *parser) source(ev *eventSpans) error {
	ev.source, ev.parent, ev.ownedBy = [nSourceFields]span{}, userSpans{}, userSpans{}
	ev.str[fSourceJSON] = span{}
	if k := p.kind(); k != '{' {
		if k == 'n' {
			return p.literal("null")
		}
		var err error
		ev.str[fSourceJSON], err = p.compact()
		return err
	}
	valStart, arenaStart := p.i, len(p.arena)
	more, err := p.openObject()
	for ; more && err == nil; more, err = p.nextMember() {
		var key []byte
		if key, err = p.memberKey(); err != nil {
			break
		}
		if f := sourceField(key); f >= 0 {
			ev.source[f], err = p.text()
		} else {
			switch string(key) {
			case "parent":
				ev.parent, err = p.user()
			case "owned_by":
				ev.ownedBy, err = p.user()
			case "path_collection":
				ev.source[sPath], err = p.pathCollection()
			case "shared_link":
				ev.source[sSharedLinkAccess], err = p.member("access")
			default:
				err = p.skip()
			}
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		return err
	}
	// The fields that say what a source is; without any, the source is a shape this package
	// does not know.
	for _, f := range [...]int{sType, sID, sItemType, sItemID, sFileID, sFolderID, sGroupID, sUserID} {
		if ev.source[f].start != ev.source[f].end {
			return nil
		}
	}
	// A shape this package does not know: keep it whole, so nothing is dropped.
	ev.source, ev.parent, ev.ownedBy = [nSourceFields]span{}, userSpans{}, userSpans{}
	p.arena = p.arena[:arenaStart]
	end := p.i
	p.i = valStart
	ev.str[fSourceJSON], err = p.compact()
	p.i = end
	return err
}

// pathCollection reads a path_collection object at p.i into the arena as the path it
// describes: "/" and the name of each entry that has one ("/All Files/Finance"). Repeated keys
// count once, the last one, as encoding/json would have it.
func (p *parser) pathCollection() (span, error) {
	start := len(p.arena)
	if p.kind() != '{' {
		return span{}, p.skip()
	}
	err := p.object(func(key []byte) error {
		if string(key) != "entries" {
			return p.skip()
		}
		p.arena = p.arena[:start]
		if p.kind() != '[' {
			return p.skip()
		}
		return p.array(func(int) error {
			if p.kind() != '{' {
				return p.skip()
			}
			seg := -1
			more, err := p.openObject()
			for ; more && err == nil; more, err = p.nextMember() {
				var key []byte
				if key, err = p.memberKey(); err != nil {
					break
				}
				if string(key) != "name" {
					err = p.skip()
				} else {
					if seg >= 0 {
						p.arena = p.arena[:seg]
					}
					seg = len(p.arena)
					p.arena = append(p.arena, '/')
					_, err = p.text()
				}
				if err != nil {
					break
				}
			}
			return err
		})
	})
	return span{start, len(p.arena)}, err
}

// member reads the lenient text of one key of the object at p.i (the last, if repeated);
// anything that is not an object gives nothing.
func (p *parser) member(want string) (span, error) {
	var s span
	if p.kind() != '{' {
		return s, p.skip()
	}
	err := p.object(func(key []byte) error {
		if string(key) != want {
			return p.skip()
		}
		var err error
		s, err = p.text()
		return err
	})
	return s, err
}

// event reads the event object at p.i.
func (p *parser) event(ev *eventSpans) error {
	more, err := p.openObject()
	for ; more && err == nil; more, err = p.nextMember() {
		var key []byte
		if key, err = p.memberKey(); err != nil {
			break
		}
		switch string(key) {
		case "type":
			ev.str[fType], err = p.text()
		case "event_id":
			ev.str[fEventID], err = p.text()
		case "event_type":
			ev.str[fEventType], err = p.text()
		case "created_at":
			ev.str[fCreatedAt], err = p.text()
		case "recorded_at":
			ev.str[fRecordedAt], err = p.text()
		case "session_id":
			ev.str[fSessionID], err = p.text()
		case "ip_address":
			ev.str[fIPAddress], err = p.text()
		case "created_by":
			ev.createdBy, err = p.user()
		case "action_by":
			ev.actionBy, err = p.user()
		case "accessible_by":
			ev.accessBy, err = p.user()
		case "source":
			err = p.source(ev)
		case "additional_details":
			ev.str[fAdditionalDetails], err = p.compact()
		default:
			err = p.skip()
		}
		if err != nil {
			break
		}
	}
	return err
}

// kindName names a value kind for errors without quoting the value.
func kindName(k byte) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't':
		return "a boolean"
	case 'n':
		return "null"
	case '0':
		return "a number"
	}
	return "nothing"
}

// decodePage decodes an events page. Entries that are not objects are skipped rather than
// failing the page; a body that ends early yields an error wrapping io.ErrUnexpectedEOF.
// sizeHint (the limit asked for) sizes the entries when Box sends no chunk_size first.
func decodePage(body []byte, sizeHint int) (*Page, error) {
	return decodePageJSON(body, sizeHint, false)
}

// decodePageJSON is decodePage that also keeps each event's whole text (Event.JSON) when
// keepJSON is set.
func decodePageJSON(body []byte, sizeHint int, keepJSON bool) (*Page, error) {
	return decodePageInto(body, sizeHint, keepJSON, &pageScratch{}, nil)
}

// decodePageInto is decodePageJSON with the spans' storage taken from (and left in) scratch.
// ahead, if not nil, is called as EventsQuery.Ahead says.
func decodePageInto(body []byte, sizeHint int, keepJSON bool, scratch *pageScratch, ahead func(StreamPosition, int)) (*Page, error) {
	p := &parser{b: body, keepJSON: keepJSON}
	switch k := p.kind(); k {
	case '{':
	case 0:
		return nil, io.ErrUnexpectedEOF
	case 1:
		return nil, p.errInvalid("looking for beginning of value")
	default:
		if err := p.skip(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("events page: want a JSON object, got %s", kindName(k))
	}
	// The text of a page is about half its body; the arena grows once or twice at most. With
	// the whole events kept, it is about the body and half again.
	size := len(body) / 2
	if keepJSON {
		size = len(body) + len(body)/2
	}
	if cap(scratch.text) >= size {
		p.arena = scratch.text[:0] // given back with RecycleText: no string of its page is in use
	} else {
		p.arena = make([]byte, 0, size)
	}
	page := &Page{Entries: scratch.events[:0]} // room given back with Recycle, if any
	scratch.events, scratch.text = nil, nil
	spans := scratch.spans[:0]
	defer func() { scratch.spans = spans[:0] }()
	sized := false // chunk_size was an integer
	err := p.object(func(key []byte) error {
		switch string(key) {
		case "chunk_size":
			s, err := p.text()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(bytes.TrimSpace(p.arena[s.start:s.end])))
			if sized = err == nil; sized {
				page.ChunkSize = n // anything but an integer counts as none, as the other lenient fields
			}
			p.arena = p.arena[:s.start]
			return nil
		case "next_stream_position":
			return p.position(page)
		case "entries":
			k := p.kind()
			switch k {
			case 'n':
				return p.literal("null")
			case '[':
			default:
				if err := p.skip(); err != nil {
					return err
				}
				return fmt.Errorf("entries: want an array, got %s", kindName(k))
			}
			if ahead != nil && sized && page.NextStreamPosition != "" {
				ahead(page.NextStreamPosition, page.ChunkSize)
				ahead = nil // once, even if Box sent entries twice
			}
			n := sizeHint
			if page.ChunkSize > 0 {
				n = page.ChunkSize
			}
			if n = min(max(n, 0), max(sizeHint, MaxLimit)); cap(spans) < n {
				spans = make([]eventSpans, 0, n)
			}
			return p.array(func(idx int) error {
				if p.kind() != '{' {
					if err := p.skip(); err != nil {
						return fmt.Errorf("entries[%d]: %w", idx, err)
					}
					return nil
				}
				spans = append(spans, eventSpans{})
				sp, start := &spans[len(spans)-1], p.i
				if err := p.event(sp); err != nil {
					return fmt.Errorf("entries[%d]: %w", idx, err)
				}
				if p.keepJSON {
					sp.str[fEventJSON] = p.appendCompact(p.b[start:p.i])
				}
				return nil
			})
		default:
			return p.skip()
		}
	})
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i < len(p.b) {
		return nil, p.errInvalid("after top-level value")
	}
	// The arena's bytes are never written again once decoding ended (p is this call's own), so
	// they can become the page's text without a copy, as strings.Builder does; until the
	// page's last user gives them back with RecycleText, when none of its strings is in use.
	text := unsafe.String(unsafe.SliceData(p.arena), len(p.arena)) //nolint:gosec // audited: the arena is not written while its strings are in use
	page.Entries = fillEvents(text, spans, page.Entries)
	page.text = p.arena
	return page, nil
}

// position reads next_stream_position: a string, a number kept digit for digit, or null.
func (p *parser) position(page *Page) error {
	switch k := p.kind(); k {
	case '"':
		ss, err := p.str()
		if err != nil {
			return err
		}
		if ss.plain {
			page.NextStreamPosition = StreamPosition(p.b[ss.start:ss.end])
		} else {
			page.NextStreamPosition = StreamPosition(decodeString(ss.quoted(p.b)))
		}
		return nil
	case '0':
		num, err := p.number()
		if err != nil {
			return err
		}
		page.NextStreamPosition = StreamPosition(num)
		return nil
	case 'n':
		page.NextStreamPosition = ""
		return p.literal("null")
	default:
		if err := p.skip(); err != nil {
			return err
		}
		return fmt.Errorf("next_stream_position: stream position: want a JSON string or number, got %s", kindName(k))
	}
}

// fillEvents turns the spans into events whose strings are substrings of arena. Each event is
// filled where it lies in the slice: building it apart and copying it in cost a bulk write
// barrier per event (pprof). events may be room a recycled page gave back: fill writes every
// field, so nothing of that page shows through even where the room was not cleared.
func fillEvents(arena string, spans []eventSpans, events []Event) []Event {
	n := len(events)
	if events == nil || cap(events)-n < len(spans) { // never nil: a page without entries has none
		grown := make([]Event, n, n+len(spans))
		copy(grown, events)
		events = grown
	}
	events = events[:n+len(spans)]
	for i := range spans {
		spans[i].fill(arena, &events[n+i])
	}
	return events
}

func (sp *eventSpans) fill(arena string, e *Event) {
	str := func(s span) string { return arena[s.start:s.end] }
	e.Type = str(sp.str[fType])
	e.EventID = str(sp.str[fEventID])
	e.EventType = str(sp.str[fEventType])
	e.CreatedAt = str(sp.str[fCreatedAt])
	e.RecordedAt = str(sp.str[fRecordedAt])
	e.SessionID = str(sp.str[fSessionID])
	e.IPAddress = str(sp.str[fIPAddress])
	sp.createdBy.fill(arena, &e.CreatedBy)
	sp.actionBy.fill(arena, &e.ActionBy)
	sp.accessBy.fill(arena, &e.AccessibleBy)
	e.SourceJSON = str(sp.str[fSourceJSON])
	e.AdditionalDetails = str(sp.str[fAdditionalDetails])
	e.JSON = str(sp.str[fEventJSON])
	src, s := &sp.source, &e.Source
	s.Type, s.ID, s.Name, s.Login = str(src[sType]), str(src[sID]), str(src[sName]), str(src[sLogin])
	s.ItemType, s.ItemID, s.ItemName = str(src[sItemType]), str(src[sItemID]), str(src[sItemName])
	s.FileID, s.FileName = str(src[sFileID]), str(src[sFileName])
	s.FolderID, s.FolderName = str(src[sFolderID]), str(src[sFolderName])
	s.GroupID, s.GroupName = str(src[sGroupID]), str(src[sGroupName])
	s.UserID, s.UserName, s.UserEmail = str(src[sUserID]), str(src[sUserName]), str(src[sUserEmail])
	sp.parent.fill(arena, &s.Parent)
	sp.ownedBy.fill(arena, &s.OwnedBy)
	s.Path, s.Size, s.SHA1 = str(src[sPath]), str(src[sSize]), str(src[sSHA1])
	s.SharedLinkAccess, s.Role, s.APIKey = str(src[sSharedLinkAccess]), str(src[sRole]), str(src[sAPIKey])
}

func (u *userSpans) fill(arena string, user *User) {
	user.Type = arena[u[uType].start:u[uType].end]
	user.ID = arena[u[uID].start:u[uID].end]
	user.Name = arena[u[uName].start:u[uName].end]
	user.Login = arena[u[uLogin].start:u[uLogin].end]
}

// errMalformed is JSON that does not parse, for the Unmarshalers, which encoding/json has
// usually validated already.
var errMalformed = errors.New("malformed JSON")

// parseObject decodes data, which must hold exactly one JSON value, calling read when it is an
// object, and returns the arena and the value's kind (see parser.kind).
func parseObject(data []byte, read func(p *parser) error) (string, byte, error) {
	p := &parser{b: data}
	k := p.kind()
	var err error
	switch k {
	case 0, 1:
		return "", k, errMalformed
	case '{':
		err = read(p)
	default:
		err = p.skip()
	}
	if err != nil {
		return "", k, errMalformed
	}
	if p.ws(); p.i < len(p.b) {
		return "", k, errMalformed
	}
	return string(p.arena), k, nil
}

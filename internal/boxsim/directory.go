package boxsim

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// User is a Box user: one of the simulated enterprise's, or an outsider its users work
// with.
type User struct {
	ID    string // Box user id, decimal digits
	Name  string
	Login string // the email address Box logs in with
}

// Group is a Box group.
type Group struct{ ID, Name string }

// Directory is the simulated enterprise that EmitTraffic and InjectScenario draw on,
// built from Options.Seed, EnterpriseDomains and Employees.
type Directory struct {
	// Domains are the enterprise's login domains (Options.EnterpriseDomains).
	Domains []string
	// Employees are the enterprise's managed users, logins in Domains (about one in
	// six in a domain other than the first). Admins come first.
	Employees []User
	// Admins are the enterprise's admin and its co-admin (the first two Employees).
	// Benign admin actions are the admin's; ScenarioPrivilegeEscalation uses the
	// co-admin's account.
	Admins []User
	// Service is the enterprise's service account (an app user of a JWT app): it
	// uploads around the clock. Its login is at boxdevedition.com, outside Domains,
	// as Box's are.
	Service User
	// Partners are outsiders from partner companies, the external collaborators of
	// benign traffic.
	Partners []User
	// Personal are outsiders with personal addresses (webmail), where data goes in
	// ScenarioExternalSharing; benign traffic invites them rarely.
	Personal []User
	// Groups are the groups benign GROUP_ADD_USER events add employees to.
	Groups []Group
	// AdminGroup is the group of Box administrators (ScenarioPrivilegeEscalation).
	AdminGroup Group
}

// External reports whether login's domain is outside d.Domains (compared without
// regard to case). A login without a domain (the anonymous user's "") is not
// judged external.
func (d Directory) External(login string) bool {
	at := strings.LastIndexByte(login, '@')
	if at < 0 {
		return false
	}
	domain := login[at+1:]
	for _, own := range d.Domains {
		if strings.EqualFold(domain, own) {
			return false
		}
	}
	return true
}

// Directory returns the simulated enterprise that EmitTraffic and InjectScenario use.
func (s *Server) Directory() Directory {
	d := &s.dir
	out := Directory{
		Domains:    append([]string(nil), d.domains...),
		Service:    d.service.user(),
		Groups:     append([]Group(nil), d.groups...),
		AdminGroup: d.adminGroup,
	}
	for i := range d.employees {
		out.Employees = append(out.Employees, d.employees[i].user())
	}
	out.Admins = append([]User(nil), out.Employees[:2]...)
	for _, p := range d.partners {
		out.Partners = append(out.Partners, p.user())
	}
	for _, p := range d.personal {
		out.Personal = append(out.Personal, p.user())
	}
	return out
}

func (p person) user() User { return User{ID: p.id, Name: p.name, Login: p.login} }

// employee is a member of the enterprise with the habits benign traffic follows.
type employee struct {
	person
	office string // the egress address of the office (shared with colleagues)
	home   string // the address at home (the employee's own)
	// Expected events on a weekday (see hourShare and weekendShare).
	logins, previews, downloads, uploads, edits, deletes, shares, invites float64
	folders                                                               [3]int // the folders the employee works in (catalog indexes)
}

// catalogFolder is a folder of the enterprise's content with files of its own.
type catalogFolder struct {
	folder
	prefix    string   // file names: prefix, a number, an extension
	exts      []string // extensions, by file number
	sensitive bool     // where exfiltration scenarios take files from
}

// directory is the enterprise behind Directory, with its content.
type directory struct {
	domains    []string
	employees  []employee // admins first
	service    person
	partners   []person
	personal   []person
	groups     []Group
	adminGroup Group
	folders    []catalogFolder
}

// filesPerFolder is how many files each catalog folder holds.
const filesPerFolder = 500

// Office egress addresses (the first for the first domain's employees, the second for
// the others), and the hosts attackers come from (TEST-NET-3).
var offices = [...]string{"216.160.83.56", "81.2.69.142"}

const attackerNet = "203.0.113."

var firstNames = [...]string{
	"Ava", "Ben", "Carla", "Deepak", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
	"Kemal", "Lena", "Mateo", "Nadia", "Omar", "Paula", "Quentin", "Rosa", "Sven", "Tariq",
	"Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoë", "Amara", "Bruno", "Chiara", "Dmitri",
}

var lastNames = [...]string{
	"Adams", "Bianchi", "Costa", "Dubois", "Eriksson", "Fischer", "García", "Haddad", "Ivanova",
	"Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "O'Neill", "Petrov", "Quinn",
	"Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Wright", "Xu", "Yilmaz", "Zimmermann",
}

// newDirectory builds the enterprise of opts (defaults applied) from its seed.
func newDirectory(opts Options) directory {
	r := rand.New(rand.NewPCG(opts.Seed, 0x6469726563746f72)) //nolint:gosec // "director": reproducible simulated data
	domains := opts.EnterpriseDomains
	d := directory{
		domains:    domains,
		service:    newPerson("63019284", "Service Account", "AutomationUser_1234567_kT9x@boxdevedition.com"),
		groups:     []Group{{"1122334", "Sales EMEA"}, {"1122335", "Engineering"}, {"1122336", "All Staff"}, {"1122337", "Finance Team"}},
		adminGroup: Group{"1122340", "Box Admins"},
	}

	// The people of the fixed pool first (logins moved into the enterprise's domains),
	// then generated ones with unique names and growing ids.
	fixed := []struct{ id, name, local string }{
		{"11446498", "Aaron Levie", "ceo"},
		{"19283746", "Dana Whitfield", "dana.whitfield"},
		{"20485713", "Jörg Müller", "joerg.mueller"},
		{"31337042", "Priya Raman", "priya"},
		{"40961235", "Marcus O'Brien", "mobrien"},
		{"52873019", "Yuki Tanaka", "yuki.tanaka"},
	}
	names := r.Perm(len(firstNames) * len(lastNames))
	nextID := 80000000
	for i := range opts.Employees {
		var id, name, local string
		if i < len(fixed) {
			id, name, local = fixed[i].id, fixed[i].name, fixed[i].local
		} else {
			n := names[i-len(fixed)]
			first, last := firstNames[n%len(firstNames)], lastNames[n/len(firstNames)]
			nextID += 1 + r.IntN(900000)
			id, name, local = strconv.Itoa(nextID), first+" "+last, loginLocal(first, last)
		}
		domain := 0
		if len(domains) > 1 && i >= len(fixed) && r.IntN(6) == 0 {
			domain = 1 + r.IntN(len(domains)-1)
		}
		e := employee{person: newPerson(id, name, local+"@"+domains[domain])}
		e.office = offices[min(domain, 1)]
		if i%2 == 0 {
			e.home = "198.51.100." + strconv.Itoa(1+i/2)
		} else {
			e.home = "2001:db8:" + strconv.FormatInt(int64(0x100+i), 16) + "::1"
		}
		f := lognormal(r, 0.6)
		e.logins = 2 + r.Float64()*2
		e.previews = 18 * f
		e.downloads = 6 * lognormal(r, 0.7)
		e.uploads = 5 * f
		e.edits = 4 * f
		e.deletes = 1.2 * f
		e.shares = 0.3 * f
		e.invites = 0.4 * f
		d.employees = append(d.employees, e)
	}

	d.partners = []person{
		newPerson("74820165", "Chloé Dubois", "chloe.dubois@partner.example.org"),
		newPerson("75102233", "Kai Novak", "k.novak@contractor.example.net"),
		newPerson("75300871", "Lucía Ortega", "lortega@agency.example.org"),
		newPerson("75518402", "Peter Hale", "peter.hale@auditors.example.net"),
		newPerson("75700164", "Mina Park", "mina.park@partner.example.org"),
	}
	d.personal = []person{
		newPerson("76011870", "Sam R", "sam.r.1987@gmail.com"),
		newPerson("76203318", "J. Doe", "jdoe.backup@outlook.com"),
		newPerson("76450092", "Files Archive", "files.archive@proton.me"),
		newPerson("76612937", "Alex", "alex.k.home@yahoo.com"),
		newPerson("76890451", "M", "m.storage2@gmx.net"),
		newPerson("77024786", "Drop Box", "dropbox.mine@icloud.com"),
	}

	for _, c := range []struct {
		id, name   string
		synced     bool
		prefix     string
		exts       []string
		sensitive  bool
		ownerIndex int
	}{
		{"48202735", "Marketing", true, "campaign", []string{".pptx", ".pdf", ".png"}, false, 1},
		{"51028211", "Finance Q3", false, "ledger", []string{".xlsx", ".pdf"}, true, 3},
		{"60347290", "Engineering", true, "design-doc", []string{".md", ".pdf", ".zip"}, false, 2},
		{"73621549", "Legal & Compliance", false, "agreement", []string{".pdf", ".docx"}, true, 0},
		{"86123570", "Sales Decks", true, "deck", []string{".pptx", ".key"}, false, 4},
		{"91730418", "HR Confidential", false, "personnel-record", []string{".pdf", ".xlsx"}, true, 1},
		{"92266104", "Customer Contracts", false, "contract", []string{".pdf", ".docx"}, true, 4},
		{"93582217", "Product Specs", true, "spec", []string{".docx", ".pdf"}, false, 2},
		{"94410936", "Board Materials", false, "board-pack", []string{".pdf", ".pptx"}, true, 0},
		{"95003318", "Design Assets", true, "asset", []string{".png", ".sketch", ".svg"}, false, 5},
		{"96634021", "Support Escalations", false, "case", []string{".txt", ".pdf", ".eml"}, false, 5},
		{"97120554", "Project Falcon", false, "falcon", []string{".docx", ".xlsx", ".pdf"}, true, 3},
	} {
		owner := c.ownerIndex % len(d.employees)
		d.folders = append(d.folders, catalogFolder{
			folder:    newFolder(c.id, c.name, c.synced, owner),
			prefix:    c.prefix,
			exts:      c.exts,
			sensitive: c.sensitive,
		})
	}
	for i := range d.employees {
		copy(d.employees[i].folders[:], r.Perm(len(d.folders)))
	}
	return d
}

// loginLocal is the part of a login before the @: first.last without accents or
// apostrophes.
func loginLocal(first, last string) string {
	var b strings.Builder
	for _, s := range []string{first, ".", last} {
		for _, c := range strings.ToLower(s) {
			switch c {
			case 'é', 'ë':
				b.WriteByte('e')
			case 'í':
				b.WriteByte('i')
			case 'ö', 'ó':
				b.WriteByte('o')
			case 'ü':
				b.WriteByte('u')
			case '\'':
			default:
				b.WriteRune(c)
			}
		}
	}
	return b.String()
}

// lognormal draws a factor around 1 whose logarithm has deviation sigma, clamped to
// [1/4, 4].
func lognormal(r *rand.Rand, sigma float64) float64 {
	return min(max(math.Exp(r.NormFloat64()*sigma), 0.25), 4)
}

// file returns file n of catalog folder fi.
func (d *directory) file(fi, n int) file {
	c := &d.folders[fi]
	id := 1300000000 + fi*filesPerFolder + n
	h := mix64(uint64(id))
	size := 2000 + int(h%1000)*int(h%1000)*40 // 2 KB to 40 MB, most of them small
	name := c.prefix + "-" + strconv.Itoa(1000 + n)[1:] + c.exts[n%len(c.exts)]
	return file{id: strconv.Itoa(id), name: name, size: size}
}

// find returns the employee whose login or id is key, and whether there is one.
func (d *directory) find(key string) (int, bool) {
	for i := range d.employees {
		if p := &d.employees[i].person; strings.EqualFold(p.login, key) || p.id == key {
			return i, true
		}
	}
	return 0, false
}

// addressAt is where employee e works from at t: in office hours mostly the office,
// otherwise home.
func (e *employee) addressAt(r *rand.Rand, t time.Time) string {
	local := t.In(enterpriseZone)
	if h := local.Hour(); workday(local.Weekday()) && h >= 8 && h < 18 && r.IntN(100) < 85 {
		return e.office
	}
	return e.home
}

// attackerAddress returns an address on the attackers' network.
func attackerAddress(r *rand.Rand) string {
	return attackerNet + strconv.Itoa(10+r.IntN(240))
}

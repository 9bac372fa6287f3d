package boxevents

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStreamPosition_UnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    StreamPosition
		wantErr string
	}{
		{name: "string above 2^53", in: `"1152922976252290886"`, want: "1152922976252290886"},
		{name: "number above 2^53", in: `1152922976252290886`, want: "1152922976252290886"},
		{name: "number above 2^64", in: `30000000000000001234567`, want: "30000000000000001234567"},
		{name: "number near float64 rounding", in: `1152922976252290817`, want: "1152922976252290817"},
		{name: "zero string", in: `"0"`, want: "0"},
		{name: "zero number", in: `0`, want: "0"},
		{name: "now", in: `"now"`, want: "now"},
		{name: "escaped string", in: `"\u0031\u0032"`, want: "12"},
		{name: "surrounding space", in: " 42 ", want: "42"},
		{name: "exponent kept as sent", in: `1e3`, want: "1e3"},
		{name: "null", in: `null`, want: ""},
		{name: "empty string", in: `""`, want: ""},
		{name: "bool", in: `true`, wantErr: "got a boolean"},
		{name: "object", in: `{"a":1}`, wantErr: "got an object"},
		{name: "array", in: `[1]`, wantErr: "got an array"},
		{name: "bad number", in: `12abc`, wantErr: "malformed JSON number"},
		{name: "bad string", in: `"12`, wantErr: "malformed JSON string"},
		{name: "empty", in: ``, wantErr: "empty JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := StreamPosition("previous")
			err := p.UnmarshalJSON([]byte(tt.in))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, p)
		})
	}
}

func TestStreamPosition_InStruct(t *testing.T) {
	var v struct {
		P StreamPosition `json:"p"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"p": 30000000000000001234567}`), &v))
	require.Equal(t, StreamPosition("30000000000000001234567"), v.P)

	// Missing field leaves the zero position.
	v.P = ""
	require.NoError(t, json.Unmarshal([]byte(`{}`), &v))
	require.Equal(t, StreamPosition(""), v.P)
}

func TestStreamPosition_MarshalJSON(t *testing.T) {
	tests := []struct {
		in   StreamPosition
		want string
	}{
		{"1152922976252290886", `"1152922976252290886"`},
		{"30000000000000001234567", `"30000000000000001234567"`},
		{"", `""`},
		{"now", `"now"`},
		{`odd"<value>`, `"odd\"\u003cvalue\u003e"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(b))

			var back StreamPosition
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, tt.in, back)
		})
	}
}

func TestStreamPosition_Usable(t *testing.T) {
	require.True(t, StreamPosition("1152922976252290886").Usable())
	require.False(t, StreamPosition("").Usable())
	require.False(t, StreamPosition("0").Usable())
	require.False(t, PositionNow.Usable())
}

func TestStreamPosition_Resumable(t *testing.T) {
	tests := []struct {
		in   StreamPosition
		want bool
	}{
		{in: "1152922976252290886", want: true},
		{in: "30000000000000001234567", want: true},
		{in: "1", want: true},
		{in: "007", want: true}, // leading zeros are unusual but still a decimal position
		{in: StreamPosition(strings.Repeat("9", 40)), want: true},
		{in: StreamPosition(strings.Repeat("9", 41))},
		{in: ""},
		{in: "0"},
		{in: "000"},
		{in: PositionNow},
		{in: "-1"},
		{in: "+5"},
		{in: "1.15e+18"},
		{in: "1e3"},
		{in: "12.0"},
		{in: " 12"},
		{in: "12\n"},
		{in: "１２"}, // fullwidth digits
		{in: "0x1F"},
	}
	for _, tt := range tests {
		t.Run(string(tt.in), func(t *testing.T) {
			require.Equal(t, tt.want, tt.in.Resumable())
			if tt.want {
				require.True(t, tt.in.Usable(), "what can be resumed from is usable")
			}
		})
	}
}

func TestParseStreamType(t *testing.T) {
	for _, s := range []string{"all", "changes", "sync", "admin_logs", "admin_logs_streaming"} {
		got, err := ParseStreamType(s)
		require.NoError(t, err)
		require.Equal(t, StreamType(s), got)
	}
	got, err := ParseStreamType(" Admin_Logs ")
	require.NoError(t, err)
	require.Equal(t, StreamAdminLogs, got)

	_, err = ParseStreamType("enterprise")
	require.EqualError(t, err, `unknown stream type "enterprise" (want all, changes, sync, admin_logs or admin_logs_streaming)`)
	_, err = ParseStreamType("")
	require.Error(t, err)
}

func TestStreamType_Enterprise(t *testing.T) {
	require.True(t, StreamAdminLogs.Enterprise())
	require.True(t, StreamAdminLogsStreaming.Enterprise())
	require.False(t, StreamAll.Enterprise())
	require.False(t, StreamChanges.Enterprise())
	require.False(t, StreamSync.Enterprise())
}

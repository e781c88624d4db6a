package blob

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestVendorS3Config(t *testing.T) {
	base := VendorConfig{AccessKey: "ak", SecretKey: "sk", Bucket: "b-1250000000"}
	tests := []struct {
		name     string
		edit     func(*VendorConfig)
		endpoint string
		region   string
		path     bool
		wantErr  string
	}{
		{"aliyun public", func(v *VendorConfig) { v.Vendor, v.Endpoint = VendorAliyunOSS, "oss-cn-hangzhou.aliyuncs.com" }, "https://s3.oss-cn-hangzhou.aliyuncs.com", "cn-hangzhou", false, ""},
		{"aliyun internal with scheme", func(v *VendorConfig) {
			v.Vendor, v.Endpoint = VendorAliyunOSS, "https://oss-cn-beijing-internal.aliyuncs.com/"
		}, "https://s3.oss-cn-beijing-internal.aliyuncs.com", "cn-beijing", false, ""},
		{"aliyun s3 endpoint kept", func(v *VendorConfig) { v.Vendor, v.Endpoint = VendorAliyunOSS, "s3.oss-eu-central-1.aliyuncs.com" }, "https://s3.oss-eu-central-1.aliyuncs.com", "eu-central-1", false, ""},
		{"aliyun region given wins", func(v *VendorConfig) {
			v.Vendor, v.Endpoint, v.Region = VendorAliyunOSS, "oss-cn-hangzhou.aliyuncs.com", "cn-shanghai"
		}, "https://s3.oss-cn-hangzhou.aliyuncs.com", "cn-shanghai", false, ""},
		{"aliyun custom domain needs region", func(v *VendorConfig) { v.Vendor, v.Endpoint = VendorAliyunOSS, "files.example.com" }, "", "", false, "region cannot be read"},
		{"aliyun no endpoint", func(v *VendorConfig) { v.Vendor = VendorAliyunOSS }, "", "", false, "needs ALIYUN_OSS_ENDPOINT"},
		{"tencent default", func(v *VendorConfig) { v.Vendor, v.Region = VendorTencentCOS, "ap-guangzhou" }, "https://cos.ap-guangzhou.myqcloud.com", "ap-guangzhou", false, ""},
		{"tencent bucket URL", func(v *VendorConfig) {
			v.Vendor, v.Region, v.Endpoint = VendorTencentCOS, "ap-shanghai", "https://b-1250000000.cos.ap-shanghai.myqcloud.com"
		}, "https://cos.ap-shanghai.myqcloud.com", "ap-shanghai", false, ""},
		{"tencent no region", func(v *VendorConfig) { v.Vendor = VendorTencentCOS }, "", "", false, "needs TENCENT_COS_REGION"},
		{"volcengine native endpoint", func(v *VendorConfig) {
			v.Vendor, v.Endpoint, v.Region = VendorVolcengineTOS, "tos-cn-beijing.volces.com", "cn-beijing"
		}, "https://tos-s3-cn-beijing.volces.com", "cn-beijing", false, ""},
		{"volcengine internal, region read", func(v *VendorConfig) { v.Vendor, v.Endpoint = VendorVolcengineTOS, "tos-cn-shanghai.ivolces.com" }, "https://tos-s3-cn-shanghai.ivolces.com", "cn-shanghai", false, ""},
		{"volcengine s3 endpoint kept", func(v *VendorConfig) { v.Vendor, v.Endpoint = VendorVolcengineTOS, "tos-s3-cn-guangzhou.volces.com" }, "https://tos-s3-cn-guangzhou.volces.com", "cn-guangzhou", false, ""},
		{"huawei", func(v *VendorConfig) {
			v.Vendor, v.Endpoint = VendorHuaweiOBS, "https://obs.cn-north-4.myhuaweicloud.com"
		}, "https://obs.cn-north-4.myhuaweicloud.com", "cn-north-4", false, ""},
		{"huawei path style", func(v *VendorConfig) {
			v.Vendor, v.Endpoint, v.PathStyle = VendorHuaweiOBS, "obs.ap-southeast-1.myhuaweicloud.com", true
		}, "https://obs.ap-southeast-1.myhuaweicloud.com", "ap-southeast-1", true, ""},
		{"huawei http", func(v *VendorConfig) { v.Vendor, v.Endpoint, v.Region = VendorHuaweiOBS, "http://10.0.0.5:9000", "r1" }, "http://10.0.0.5:9000", "r1", false, ""},
		{"huawei unknown host", func(v *VendorConfig) { v.Vendor, v.Endpoint = VendorHuaweiOBS, "obs.example.com" }, "", "", false, "set PLUGD_HUAWEI_OBS_REGION"},
		{"endpoint with a path", func(v *VendorConfig) { v.Vendor, v.Endpoint = VendorHuaweiOBS, "https://obs.example.com/bucket" }, "", "", false, `HUAWEI_OBS_SERVER="https://obs.example.com/bucket"`},
		{"endpoint with a bad scheme", func(v *VendorConfig) { v.Vendor, v.Endpoint = VendorAliyunOSS, "ftp://oss-cn-hangzhou.aliyuncs.com" }, "", "", false, "want host[:port]"},
		{"no bucket", func(v *VendorConfig) { v.Vendor, v.Bucket = VendorTencentCOS, "" }, "", "", false, "PLUGIN_STORAGE_OSS_BUCKET"},
		{"no secret", func(v *VendorConfig) { v.Vendor, v.SecretKey = VendorVolcengineTOS, "" }, "", "", false, "needs VOLCENGINE_TOS_SECRET_KEY"},
		{"unknown vendor", func(v *VendorConfig) { v.Vendor = "baidu_bos" }, "", "", false, "not an S3-compatible vendor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base
			tt.edit(&v)
			v.Setting = VendorSettings(v.Vendor)
			got, err := v.S3Config()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("S3Config = %+v, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Endpoint != tt.endpoint || got.Region != tt.region || got.PathStyle != tt.path || got.Bucket != v.Bucket ||
				got.AccessKey != "ak" || got.SecretKey != "sk" || got.UseSSL != strings.HasPrefix(tt.endpoint, "https:") {
				t.Fatalf("S3Config = %+v; want endpoint %s, region %s, path style %v", got, tt.endpoint, tt.region, tt.path)
			}
			if _, _, err := s3Endpoint(got.Endpoint, got.UseSSL); err != nil {
				t.Fatalf("the endpoint does not suit the S3 client: %v", err)
			}
		})
	}
}

// hostRecorder reaches the test server under any name ending in domain, as DNS would send
// bucket.domain there, and records the Host of every request.
type hostRecorder struct {
	base  *http.Transport
	mu    sync.Mutex
	hosts []string
}

func newHostRecorder(domain, target string) *hostRecorder {
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		if host == domain || strings.HasSuffix(host, "."+domain) {
			addr = target
		}
		return d.DialContext(ctx, network, addr)
	}}
	return &hostRecorder{base: tr}
}

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.hosts = append(h.hosts, r.URL.Host)
	h.mu.Unlock()
	return h.base.RoundTrip(r)
}

// TestS3VendorAddressing runs each S3-compatible vendor's addressing (virtual-host style for
// Aliyun, Tencent and Volcengine; both styles for Huawei) against MinIO, which answers
// bucket.DOMAIN requests for the PLUGD_TEST_S3_DOMAIN that scripts/s3.sh gives it. No vendor's
// own server runs here; what is tested is that the requests plugd makes for each vendor are
// valid S3 in that vendor's style, and that every one of them names the bucket in the host.
func TestS3VendorAddressing(t *testing.T) {
	base := s3TestConfig(t)
	domain := needServer(t, "PLUGD_TEST_S3_DOMAIN", "scripts/s3.sh")
	u, err := url.Parse(base.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	for _, tt := range []struct {
		vendor   string
		endpoint string
		path     bool
	}{
		{VendorAliyunOSS, "http://" + domain + ":" + port, false},
		{VendorTencentCOS, "http://" + base.Bucket + "." + domain + ":" + port, false}, // the bucket URL form
		{VendorVolcengineTOS, "http://" + domain + ":" + port, false},
		{VendorHuaweiOBS, "http://" + domain + ":" + port, false},
		{VendorHuaweiOBS, "http://" + domain + ":" + port, true},
	} {
		name := tt.vendor
		if tt.path {
			name += "-path-style"
		}
		t.Run(name, func(t *testing.T) {
			cfg, err := VendorConfig{
				Vendor: tt.vendor, Endpoint: tt.endpoint, Region: "us-east-1", Bucket: base.Bucket,
				AccessKey: base.AccessKey, SecretKey: base.SecretKey, PathStyle: tt.path,
				Prefix: testPrefix(), Setting: VendorSettings(tt.vendor),
			}.S3Config()
			if err != nil {
				t.Fatal(err)
			}
			rec := newHostRecorder(domain, u.Host)
			cfg.Transport = rec
			s, err := NewS3(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			emptyOnCleanup(t, s)
			big := data(20<<20, 11) // multipart: initiate, parts, complete
			mustPut(t, s, "pkg/a.difypkg", big, int64(len(big)))
			mustPut(t, s, "assets/icon.svg", []byte("<svg/>"), -1)
			if got := mustGet(t, s, "pkg/a.difypkg"); !bytes.Equal(got, big) {
				t.Fatal("Get returned different bytes")
			}
			if keys := mustList(t, s, ""); !slices.Equal(keys, []string{"assets/icon.svg", "pkg/a.difypkg"}) {
				t.Fatalf("List = %q", keys)
			}
			if err := s.Delete(context.Background(), "pkg/a.difypkg"); err != nil {
				t.Fatal(err)
			}
			assertMissing(t, s, "pkg/a.difypkg")
			rec.mu.Lock()
			defer rec.mu.Unlock()
			wantHost := base.Bucket + "." + domain + ":" + port
			if tt.path {
				wantHost = domain + ":" + port
			}
			for _, h := range rec.hosts {
				if h != wantHost {
					t.Fatalf("a request went to %q; every request should go to %q", h, wantHost)
				}
			}
			if len(rec.hosts) < 8 {
				t.Fatalf("only %d requests recorded", len(rec.hosts))
			}
		})
	}
}

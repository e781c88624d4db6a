package blob

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Vendors whose object storage plugd reaches through its S3-compatible API rather than the
// vendor's own SDK: each vendor documents that API for use with AWS SDKs, so one well-tested
// client (minio-go) serves all of them and no four extra SDKs are linked in. The names are the
// reference daemon's PLUGIN_STORAGE_TYPE values.
const (
	VendorAliyunOSS     = "aliyun_oss"
	VendorTencentCOS    = "tencent_cos"
	VendorVolcengineTOS = "volcengine_tos"
	VendorHuaweiOBS     = "huawei_obs"
)

// VendorConfig is a vendor's storage settings as the reference daemon names them; S3Config
// turns them into the S3-compatible endpoint, region and addressing the vendor documents.
type VendorConfig struct {
	Vendor string
	// Endpoint is the vendor's endpoint as users configure it for the reference daemon:
	// ALIYUN_OSS_ENDPOINT (oss-cn-hangzhou.aliyuncs.com), TENCENT_COS_ENDPOINT (the bucket's
	// URL, optional), VOLCENGINE_TOS_ENDPOINT (tos-cn-beijing.volces.com) or HUAWEI_OBS_SERVER
	// (https://obs.cn-north-4.myhuaweicloud.com). A scheme-less endpoint means https.
	Endpoint string
	// Region: ALIYUN_OSS_REGION, TENCENT_COS_REGION, VOLCENGINE_TOS_REGION; read from the
	// endpoint when empty and the endpoint is the vendor's own (Huawei has no setting for it).
	Region               string
	AccessKey, SecretKey string
	Bucket               string
	// Prefix is put before every key (ALIYUN_OSS_PATH for Aliyun).
	Prefix string
	// PathStyle is HUAWEI_OBS_PATH_STYLE; the other vendors accept virtual-host style only.
	PathStyle bool
	// Setting names the variables in error messages, by role: "endpoint", "region", "access
	// key", "secret key". Missing roles are named by role.
	Setting map[string]string
}

// VendorSettings names a vendor's variables by role ("endpoint", "region", "access key",
// "secret key") for error messages: the reference daemon's names, and PLUGD_HUAWEI_OBS_REGION,
// plugd's own, for the one the reference lacks.
func VendorSettings(vendor string) map[string]string {
	switch vendor {
	case VendorAliyunOSS:
		return map[string]string{"endpoint": "ALIYUN_OSS_ENDPOINT", "region": "ALIYUN_OSS_REGION",
			"access key": "ALIYUN_OSS_ACCESS_KEY_ID", "secret key": "ALIYUN_OSS_ACCESS_KEY_SECRET"}
	case VendorTencentCOS:
		return map[string]string{"endpoint": "TENCENT_COS_ENDPOINT", "region": "TENCENT_COS_REGION",
			"access key": "TENCENT_COS_SECRET_ID", "secret key": "TENCENT_COS_SECRET_KEY"}
	case VendorVolcengineTOS:
		return map[string]string{"endpoint": "VOLCENGINE_TOS_ENDPOINT", "region": "VOLCENGINE_TOS_REGION",
			"access key": "VOLCENGINE_TOS_ACCESS_KEY", "secret key": "VOLCENGINE_TOS_SECRET_KEY"}
	case VendorHuaweiOBS:
		return map[string]string{"endpoint": "HUAWEI_OBS_SERVER", "region": "PLUGD_HUAWEI_OBS_REGION",
			"access key": "HUAWEI_OBS_ACCESS_KEY", "secret key": "HUAWEI_OBS_SECRET_KEY"}
	}
	return nil
}

var (
	aliyunHost     = regexp.MustCompile(`^(?:s3\.)?oss-([a-z0-9-]+?)(-internal)?\.aliyuncs\.com$`)
	volcengineHost = regexp.MustCompile(`^tos-(?:s3-)?([a-z0-9-]+)\.(volces\.com|ivolces\.com|bytepluses\.com|ibytepluses\.com)$`)
	huaweiHost     = regexp.MustCompile(`^obs\.([a-z0-9-]+)\.myhuaweicloud\.com$`)
	tencentHost    = regexp.MustCompile(`^cos\.([a-z0-9-]+)\.myqcloud\.com$`)
)

// S3Config maps the vendor's settings to an S3 client's.
func (v VendorConfig) S3Config() (S3Config, error) {
	name := func(role string) string {
		if n := v.Setting[role]; n != "" {
			return n
		}
		return v.Vendor + " " + role
	}
	switch {
	case v.Bucket == "":
		return S3Config{}, fmt.Errorf("blob: %s needs a bucket (PLUGIN_STORAGE_OSS_BUCKET)", v.Vendor)
	case v.AccessKey == "":
		return S3Config{}, fmt.Errorf("blob: %s needs %s", v.Vendor, name("access key"))
	case v.SecretKey == "":
		return S3Config{}, fmt.Errorf("blob: %s needs %s", v.Vendor, name("secret key"))
	}
	scheme, host := "https", ""
	if v.Endpoint != "" {
		raw := v.Endpoint
		if !strings.Contains(raw, "://") {
			raw = "https://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || strings.Trim(u.Path, "/") != "" {
			return S3Config{}, fmt.Errorf("blob: %s=%q: want host[:port] or http(s)://host[:port]", name("endpoint"), v.Endpoint)
		}
		scheme, host = u.Scheme, strings.ToLower(u.Host)
	}
	region := v.Region
	virtual := true
	switch v.Vendor {
	case VendorAliyunOSS:
		// Aliyun: "Accessing OSS with the AWS SDK" names s3.oss-<region>.aliyuncs.com (and
		// -internal) and virtual-host style.
		if host == "" {
			return S3Config{}, fmt.Errorf("blob: %s needs %s", v.Vendor, name("endpoint"))
		}
		if m := aliyunHost.FindStringSubmatch(host); m != nil {
			host = "s3.oss-" + m[1] + m[2] + ".aliyuncs.com"
			if region == "" {
				region = m[1]
			}
		}
	case VendorTencentCOS:
		// Tencent: the AWS SDK reaches COS at cos.<region>.myqcloud.com, virtual-host style.
		// The reference takes the bucket's own URL; its bucket part is dropped here, since the
		// client puts the bucket in front again.
		if region == "" {
			return S3Config{}, fmt.Errorf("blob: %s needs %s", v.Vendor, name("region"))
		}
		host = strings.TrimPrefix(host, strings.ToLower(v.Bucket)+".")
		if host == "" {
			host = "cos." + region + ".myqcloud.com"
		}
	case VendorVolcengineTOS:
		// Volcengine: S3 requests go to the dedicated tos-s3-<region> endpoints, virtual-host
		// style, signed with Signature V4 only.
		if host == "" {
			return S3Config{}, fmt.Errorf("blob: %s needs %s", v.Vendor, name("endpoint"))
		}
		if m := volcengineHost.FindStringSubmatch(host); m != nil {
			host = "tos-s3-" + m[1] + "." + m[2]
			if region == "" {
				region = m[1]
			}
		}
	case VendorHuaweiOBS:
		// Huawei: OBS's REST API is compatible with most of S3's, at obs.<region>.myhuaweicloud.com,
		// in both addressing styles.
		if host == "" {
			return S3Config{}, fmt.Errorf("blob: %s needs %s", v.Vendor, name("endpoint"))
		}
		if m := huaweiHost.FindStringSubmatch(host); m != nil && region == "" {
			region = m[1]
		}
		virtual = !v.PathStyle
	default:
		return S3Config{}, fmt.Errorf("blob: %q is not an S3-compatible vendor (%s, %s, %s, %s)", v.Vendor,
			VendorAliyunOSS, VendorTencentCOS, VendorVolcengineTOS, VendorHuaweiOBS)
	}
	if tencentHost.MatchString(host) && region == "" {
		region = tencentHost.FindStringSubmatch(host)[1]
	}
	if region == "" {
		// Without a region the client would ask the bucket for it, and several vendors answer
		// that request in their own format.
		return S3Config{}, fmt.Errorf("blob: %s: the region cannot be read from %s=%q; set %s", v.Vendor, name("endpoint"), v.Endpoint, name("region"))
	}
	return S3Config{
		Endpoint:  scheme + "://" + host,
		Bucket:    v.Bucket,
		AccessKey: v.AccessKey,
		SecretKey: v.SecretKey,
		Region:    region,
		UseSSL:    scheme == "https",
		PathStyle: !virtual,
		Prefix:    v.Prefix,
	}, nil
}

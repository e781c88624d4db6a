package main

import (
	"context"
	"fmt"
	"os"

	"github.com/plugd/plugd/internal/blob"
)

func main() {
	ctx := context.Background()
	var s blob.Store
	var err error
	switch os.Args[1] {
	case "s3":
		s, err = blob.NewS3(ctx, blob.S3Config{Endpoint: os.Args[2], Bucket: "b", AccessKey: "a", SecretKey: "s"})
	case "azure":
		s, err = blob.NewAzure(ctx, blob.AzureConfig{ConnectionString: os.Args[2], Container: "c"})
	case "gcs":
		s, err = blob.NewGCS(ctx, blob.GCSConfig{Endpoint: os.Args[2], Bucket: "b"})
	}
	fmt.Println(s, err)
}

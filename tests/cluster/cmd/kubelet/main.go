// Command kubelet runs the stock Kubernetes kubelet for hami's cluster tests.
package main

import (
	"context"
	"os"

	"k8s.io/component-base/cli"
	upstream "k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(upstream.NewKubeletCommand(context.Background())))
}

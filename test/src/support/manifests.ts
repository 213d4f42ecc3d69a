/**
 * Custom resources that many tests start a pod with, written once: the pod reads them exactly as a
 * user's `kubectl apply` files.
 */

/** One SipApplication admitting every loopback caller through an IpAcl named `loopback`. */
export function loopbackAppManifests(name: string, answerUrl: string, hangupUrl: string): string {
  return `
apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: loopback, namespace: default }
spec: { entries: [{ ip: 127.0.0.0, cidrPrefix: 8 }] }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: ${name}, namespace: default }
spec:
  answerUrl: ${answerUrl}
  hangupUrl: ${hangupUrl}
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: loopback }] }
`;
}

// Kubernetes kinds as typed constants: a misspelt kind is a compile error, not a read that finds nothing.

/** One apiVersion + kind, as the host keys children, related objects and cache reads ("apps/v1", "Deployment"). */
export class Kind {
  constructor(
    public apiVersion: string,
    public kind: string,
  ) {}
}

export const CONFIG_MAP = new Kind("v1", "ConfigMap");
export const SECRET = new Kind("v1", "Secret");
export const SERVICE = new Kind("v1", "Service");
export const SERVICE_ACCOUNT = new Kind("v1", "ServiceAccount");
export const POD = new Kind("v1", "Pod");
export const PERSISTENT_VOLUME_CLAIM = new Kind("v1", "PersistentVolumeClaim");
export const NAMESPACE = new Kind("v1", "Namespace");
export const NODE = new Kind("v1", "Node");
export const DEPLOYMENT = new Kind("apps/v1", "Deployment");
export const STATEFUL_SET = new Kind("apps/v1", "StatefulSet");
export const DAEMON_SET = new Kind("apps/v1", "DaemonSet");
export const JOB = new Kind("batch/v1", "Job");
export const CRON_JOB = new Kind("batch/v1", "CronJob");
export const INGRESS = new Kind("networking.k8s.io/v1", "Ingress");
export const NETWORK_POLICY = new Kind("networking.k8s.io/v1", "NetworkPolicy");
export const ROLE = new Kind("rbac.authorization.k8s.io/v1", "Role");
export const ROLE_BINDING = new Kind("rbac.authorization.k8s.io/v1", "RoleBinding");
export const CLUSTER_ROLE = new Kind("rbac.authorization.k8s.io/v1", "ClusterRole");
export const CLUSTER_ROLE_BINDING = new Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding");
export const HORIZONTAL_POD_AUTOSCALER = new Kind("autoscaling/v2", "HorizontalPodAutoscaler");
export const POD_DISRUPTION_BUDGET = new Kind("policy/v1", "PodDisruptionBudget");

export { createRunHooks, recordFailure, type RunHooksOptions } from './hooks.ts';
export { parseContainers, CONTAINERS_SPEC, type ContainersConfig, type DockerEndpoint } from './config.ts';
export { connectDocker, resolveEndpoint, DEFAULT_DOCKER_SOCKET } from './docker.ts';
export { dependencyOrder } from './order.ts';

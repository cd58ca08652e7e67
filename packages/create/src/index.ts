export { createProject, packageNameFor, tradebusVersion, CreateProjectError, TEMPLATE_DIR, TOOLING_VERSIONS, type CreateProjectOptions, type CreatedProject } from './create.js';
export { run } from './cli.js';

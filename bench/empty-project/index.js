// No resource: `pulumi up` of this project is the engine's and the language host's fixed cost
// (plain JavaScript, as the project's own program runs compiled: pulumi-entry.js).
exports.nothing = true;

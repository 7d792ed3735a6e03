// The public API of each entry point as an api-extractor report in etc/api/ (run by
// `npm run api:report` after `npm run build`). It reads the built declarations under dist/, so
// it runs on api-extractor's own TypeScript, apart from the TypeScript 7 that builds them.
//
//   node scripts/api-report.mjs           writes the reports (commit them with an API change)
//   node scripts/api-report.mjs --check   exits 1 if a report differs from the built API
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = fileURLToPath(new URL('..', import.meta.url));
const check = process.argv.includes('--check');
const entries = [
  { name: 'rxkcp', dts: 'dist/operators/index.d.ts' },
  { name: 'rxkcp-core', dts: 'dist/src/index.d.ts' },
  { name: 'rxkcp-node', dts: 'dist/src/node/index.d.ts' },
  { name: 'rxkcp-io', dts: 'dist/operators/io/index.d.ts' },
  { name: 'rxkcp-testing', dts: 'dist/operators/testing/index.d.ts' },
];

mkdirSync(`${root}etc/api`, { recursive: true });
let failed = false;
for (const { name, dts } of entries) {
  if (!existsSync(`${root}${dts}`)) {
    console.error(`api-report: ${dts} is missing (run npm run build first)`);
    process.exit(1);
  }
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: root,
      mainEntryPointFilePath: `<projectFolder>/${dts}`,
      compiler: {
        overrideTsconfig: {
          compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2022'], types: ['node'], strict: true, skipLibCheck: true },
          include: ['dist/src/**/*.d.ts', 'dist/operators/**/*.d.ts'],
        },
      },
      apiReport: { enabled: true, reportFileName: `${name}.api.md`, reportFolder: '<projectFolder>/etc/api/', reportTempFolder: '<projectFolder>/.pack/api/' },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        compilerMessageReporting: { default: { logLevel: 'warning' } },
        // No @public/@beta tags: everything exported is the API. Undocumented members and types
        // an entry point uses without exporting are marked in the report itself.
        extractorMessageReporting: {
          default: { logLevel: 'warning' },
          'ae-missing-release-tag': { logLevel: 'none' },
          // @internal marks members the package calls itself; the report shows them as such
          'ae-internal-missing-underscore': { logLevel: 'none' },
          'ae-undocumented': { logLevel: 'none' },
          'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: true },
        },
        tsdocMessageReporting: { default: { logLevel: 'none' } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: `${root}package.json`,
  });
  const result = Extractor.invoke(config, { localBuild: !check, showVerboseMessages: false });
  // writing, a changed report is the point; checking, it is the failure
  if (result.errorCount > 0 || (check && !result.succeeded)) failed = true;
  console.log(`${name}: ${result.apiReportChanged ? 'API report changed' : 'API report unchanged'}, ${result.errorCount} errors, ${result.warningCount} warnings`);
}
process.exit(failed ? 1 : 0);

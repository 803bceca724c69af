import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DEFAULT_VIP, Lab } from '../../lab/lab.ts';
import { REPO_ROOT } from '../../lab/netns.ts';
import type { VipView } from '../../actors/types.ts';
import { until } from '../support/until.ts';

/**
 * The Debian package of scripts/build-deb.sh: what it holds (dpkg-deb -c / -I), what lintian says
 * of it, and the agent it ships, extracted with dpkg-deb -x and run in the lab from its own
 * /usr/bin/linkctl (two hosts: one VIP ACTIVATED, then a failover). Installing it on this machine
 * (dpkg -i, dpkg --purge) runs only with LINK_TEST_INSTALL=1.
 */

const DEV_ONLY = [
  'tsx',
  'typescript',
  'eslint',
  'playwright-core',
  'fast-check',
  'esbuild',
  '@esbuild',
  'prettier',
];
const INSTALL = process.env['LINK_TEST_INSTALL'] === '1';

function sh(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(command, args, { encoding: 'utf8', env, maxBuffer: 64 << 20 });
}

function succeeds(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** lintian takes about a minute on the package's node_modules: it runs while the lab does. */
function lintian(deb: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('lintian', [deb], { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      // lintian exits 1 when it reports an error: the output says which, and the test asserts on it.
      if (err && typeof err.code !== 'number') reject(new Error('lintian did not run', { cause: err }));
      else resolve(stdout + stderr);
    });
  });
}

describe('the Debian package (scripts/build-deb.sh)', { timeout: 420_000 }, () => {
  let dir: string;
  let deb: string;
  let root: string;
  let contents: string[];
  let lint: Promise<string>;
  const startedAt = Date.now();

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'link-deb-'));
    const out = sh(join(REPO_ROOT, 'scripts/build-deb.sh'), [], {
      ...process.env,
      LINK_DEB_OUT: dir,
      LINK_DEB_COMPRESSION: 'gzip',
    });
    deb = out.trim().split('\n').at(-1)!;
    console.log(`built ${deb} in ${Date.now() - startedAt} ms`);
    lint = lintian(deb);
    // Each line: mode owner/group size date time path [-> target]
    contents = sh('dpkg-deb', ['-c', deb])
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(/\s+/).slice(5).join(' '));
    root = join(dir, 'root');
    sh('dpkg-deb', ['-x', deb, root]);
  });

  after(async () => {
    await lint?.catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(`package test: ${Date.now() - startedAt} ms in all`);
  });

  it("is named link-vip_<version>_<arch>.deb after package.json and koffi's native build", () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
    assert.equal(deb, join(dir, `link-vip_${version}_${arch}.deb`));
    assert.ok(
      contents.includes(
        `./usr/lib/link-vip/node_modules/@koromix/koffi-linux-${process.arch}/linux_${process.arch}/koffi.node`,
      ),
    );
  });

  it('holds the compiled code and production node_modules, no sources, no devDependencies', () => {
    for (const path of [
      './usr/lib/link-vip/dist/linkctl.mjs',
      './usr/lib/link-vip/bin/linkctl',
      './usr/lib/link-vip/package.json',
      './usr/lib/link-vip/http/ui/dist/index.html',
      './usr/lib/link-vip/http/ui/dist/main.js',
      './usr/lib/link-vip/http/ui/dist/style.css',
      './usr/lib/link-vip/node_modules/koffi/package.json',
      './usr/lib/link-vip/node_modules/etcd3/package.json',
      './usr/bin/linkctl -> ../lib/link-vip/bin/linkctl',
      './usr/lib/systemd/system/link.service',
      './etc/link/link.env',
      './usr/share/man/man8/linkctl.8.gz',
      './usr/share/bash-completion/completions/linkctl',
      './usr/share/doc/link-vip/copyright',
      './usr/share/doc/link-vip/changelog.gz',
      './usr/share/doc/link-vip/install.md',
    ]) {
      assert.ok(contents.includes(path), `${path} in the package`);
    }
    for (const name of DEV_ONLY) {
      const found = contents.find((p) => p.startsWith(`./usr/lib/link-vip/node_modules/${name}/`));
      assert.equal(found, undefined, `devDependency ${name} in the package`);
    }
    const sources = contents.filter(
      (p) => p.endsWith('.ts') && !p.endsWith('.d.ts') && !p.includes('/node_modules/'),
    );
    assert.deepEqual(sources, []);
  });

  it('declares the conffile, the dependencies, and maintainer scripts that start nothing', () => {
    const control = sh('dpkg-deb', ['-f', deb]);
    assert.match(control, /^Package: link-vip$/m);
    assert.match(control, /^Depends: nodejs \(>= 20\.19\)/m);
    assert.match(control, /^Suggests: etcd-client$/m);
    assert.equal(sh('dpkg-deb', ['-I', deb, 'conffiles']).trim(), '/etc/link/link.env');
    const postinst = sh('dpkg-deb', ['-I', deb, 'postinst']);
    assert.match(postinst, /adduser --system/);
    assert.match(postinst, /install -d -o link -g link -m 0750 \/var\/lib\/link/);
    const scripts = postinst + sh('dpkg-deb', ['-I', deb, 'prerm']) + sh('dpkg-deb', ['-I', deb, 'postrm']);
    const code = scripts.replace(/#.*$/gm, '');
    assert.doesNotMatch(
      code,
      /deb-systemd-helper\s+enable|systemctl\s+(\S+\s+)*(start|restart|enable)\b|deb-systemd-invoke\s+(start|restart)/,
    );
  });

  it("installs the unit with the package's linkctl, otherwise as packaging/link.service", () => {
    const unit = readFileSync(join(root, 'usr/lib/systemd/system/link.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/bin\/linkctl agent$/m);
    const settings = (text: string): string[] =>
      text.split('\n').filter((l) => /^[A-Z]\w+=/.test(l) && !/^(ExecStart|Documentation)=/.test(l));
    assert.deepEqual(
      settings(unit),
      settings(readFileSync(join(REPO_ROOT, 'packaging/link.service'), 'utf8')),
    );
    assert.ok(existsSync(join(root, 'usr/bin/linkctl')), 'ExecStart exists in the package');
    const env = readFileSync(join(root, 'etc/link/link.env'), 'utf8');
    assert.doesNotMatch(env, /\/opt\/link/);
  });

  it('has a man page linkctl(8) with every command, and a bash completion', () => {
    const man = gunzipSync(readFileSync(join(root, 'usr/share/man/man8/linkctl.8.gz'))).toString('utf8');
    assert.match(man, /^\.TH LINKCTL 8 /m);
    for (const command of ['agent', 'ips list', 'ips add', 'ips failover', 'version', 'lab up']) {
      assert.match(man, new RegExp(`^\\.SS "linkctl ${command}"$`, 'm'), command);
    }
    const completion = sh('bash', [
      '-c',
      `PATH=${join(root, 'usr/bin')}:$PATH; . ${join(root, 'usr/share/bash-completion/completions/linkctl')}; ` +
        'COMP_WORDS=(linkctl ips f); COMP_CWORD=2; _linkctl; echo "${COMPREPLY[@]}"',
    ]);
    assert.equal(completion.trim(), 'failover');
  });

  it('its extracted agent runs in the lab: one VIP ACTIVATED, a failover, the visualiser', async () => {
    const linkctl = join(root, 'usr/bin/linkctl');
    const lab = await Lab.up({ name: `deb-${process.pid}`, hosts: 2, linkctl: [linkctl] });
    try {
      // The agents are the package's: node runs its dist/, not tsx, not this checkout.
      for (const host of lab.hosts) {
        const cmdline = readFileSync(`/proc/${host.pid}/cmdline`, 'utf8').split('\0');
        assert.ok(cmdline.includes(join(root, 'usr/lib/link-vip/dist/linkctl.mjs')), cmdline.join(' '));
      }
      for (const host of lab.hosts) {
        const res = await lab.api<VipView>(host.name, 'POST', '/ips', { ip: DEFAULT_VIP });
        assert.equal(res.status, 201, JSON.stringify(res.body));
      }
      const viewOf = async (name: string): Promise<VipView | undefined> =>
        (await lab.api<{ ips: VipView[] }>(name, 'GET', '/ips')).body.ips[0];
      const owner = await until(
        'one host to hold the VIP (ACTIVATED)',
        async () => {
          for (const host of lab.hosts)
            if ((await viewOf(host.name))?.status === 'ACTIVATED') return host.name;
          return undefined;
        },
        15_000,
      );
      const vip = (await viewOf(owner))!;
      const other = lab.hosts.find((h) => h.name !== owner)!.name;
      await until(
        'the other host to be STANDBY',
        async () => (await viewOf(other))?.status === 'STANDBY',
        15_000,
      );
      const res = await lab.api(owner, 'POST', `/ips/${encodeURIComponent(vip.id)}/failover`);
      assert.equal(res.status, 204, JSON.stringify(res.body));
      await until(
        'the other host to hold the VIP',
        async () => (await viewOf(other))?.status === 'ACTIVATED',
        10_000,
      );
      // Without esbuild (none in the package, none above the extracted tree) the prebuilt page.
      const ui = await lab.api<string>(other, 'GET', '/ui');
      assert.equal(ui.status, 200, JSON.stringify(ui.body));
    } finally {
      await lab.down();
    }
  });

  // After the lab test: lintian has run meanwhile.
  it('lintian reports no error', async () => {
    const report = await lint;
    const errors = report.split('\n').filter((l) => l.startsWith('E: '));
    const warnings = report.split('\n').filter((l) => l.startsWith('W: '));
    console.log(`lintian: ${errors.length} errors, ${warnings.length} warnings`);
    assert.deepEqual(errors, []);
  });

  it(
    'dpkg -i, then dpkg --purge (LINK_TEST_INSTALL=1)',
    { skip: !INSTALL && 'installs on this machine: set LINK_TEST_INSTALL=1' },
    () => {
      const hadUser = succeeds('getent', ['passwd', 'link']);
      // Node may not come from a package that dpkg knows (a tarball, nvm): dpkg would refuse the
      // Depends. (Here it is NodeSource's nodejs 20.20.2, which satisfies it.)
      sh('dpkg', ['-i', '--ignore-depends=nodejs', deb]);
      try {
        const passwd = sh('getent', ['passwd', 'link']).split(':');
        assert.ok(Number(passwd[2]) < 1000, `link is a system user (uid ${passwd[2]})`);
        const state = statSync('/var/lib/link');
        assert.equal(state.mode & 0o777, 0o750);
        assert.equal(state.uid, Number(passwd[2]));
        const env = statSync('/etc/link/link.env');
        assert.equal(env.mode & 0o777, 0o640);
        assert.equal(env.gid, Number(passwd[3]));
        assert.match(sh('/usr/bin/linkctl', ['agent', '--help']), /--check/);
        // Installed, neither enabled nor started.
        assert.equal(
          existsSync('/etc/systemd/system/multi-user.target.wants/link.service'),
          false,
          'enabled',
        );
        const agents = readdirSync('/proc')
          .filter((p) => /^\d+$/.test(p))
          .filter((p) => {
            try {
              return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('/usr/lib/link-vip/');
            } catch {
              return false;
            }
          });
        assert.deepEqual(agents, []);
      } finally {
        sh('dpkg', ['--purge', 'link-vip']);
        // Debian packages leave their system user on purge; the test leaves the machine as it found it.
        if (!hadUser) sh('deluser', ['--system', '--quiet', 'link']);
      }
      for (const path of ['/usr/lib/link-vip', '/usr/bin/linkctl', '/etc/link/link.env', '/var/lib/link']) {
        assert.equal(existsSync(path), false, `${path} after purge`);
      }
    },
  );
});

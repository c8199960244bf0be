import { Controller, Get, Header, ServiceUnavailableException } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findWebBuild } from './web-assets';

/** Same-origin page: scripts, styles and sockets from this server only. */
const CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

/** Serves the demo page (src/web/page, built by `npm run build:web`): three fixed files, no directory listing. */
@Controller()
export class WebController {
  private readonly root = findWebBuild();

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', CSP)
  @Header('x-content-type-options', 'nosniff')
  page(): Promise<string> {
    return this.read('index.html');
  }

  @Get('app.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  @Header('x-content-type-options', 'nosniff')
  script(): Promise<string> {
    return this.read('app.js');
  }

  @Get('app.css')
  @Header('content-type', 'text/css; charset=utf-8')
  @Header('x-content-type-options', 'nosniff')
  styles(): Promise<string> {
    return this.read('app.css');
  }

  private async read(file: string): Promise<string> {
    if (!this.root) throw new ServiceUnavailableException('page not built: run npm run build:web');
    return readFile(join(this.root, file), 'utf8');
  }
}

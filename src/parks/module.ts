import { z } from 'zod';
import { ledgerModule } from '../ledger/module';
import { defineModule } from '../platform/modules';
import { fleetParksHandler } from './fleet-parks.inbound';
import { ParkResolver } from './park.resolver';
import { ParkService } from './park.service';

export interface ParkServices {
  parks: ParkService;
}

/** Taxi parks from `fleet.parks` (or an admin): the fleet payees instant and periodic payouts pay. */
export const parksModule = defineModule({
  name: 'parks',
  tables: ['park'],
  requires: [ledgerModule],
  settings: z.object({ TOPIC_FLEET_PARKS: z.string().default('fleet.parks') }),
  create: ({ use }): ParkServices => ({ parks: new ParkService(use(ledgerModule).ledger) }),
  resolvers: [ParkResolver],
  inbound: ({ services, settings }) => [fleetParksHandler(settings.TOPIC_FLEET_PARKS, services.parks)],
});

using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class IdempotencyLeases : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "idempotency_key",
                table: "refunds",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<DateTime>(
                name: "claimed_at",
                table: "idempotency_keys",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_refunds_merchant_id_idempotency_key",
                table: "refunds",
                columns: new[] { "merchant_id", "idempotency_key" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_refunds_merchant_id_idempotency_key",
                table: "refunds");

            migrationBuilder.DropColumn(
                name: "idempotency_key",
                table: "refunds");

            migrationBuilder.DropColumn(
                name: "claimed_at",
                table: "idempotency_keys");
        }
    }
}
